"""Label GeoTIFFs are Cloud-Optimized GeoTIFFs (GDAL's COG driver) with class-id overviews, colour table and
nodata; predict.py on GeoTIFF scenes writes them and, with --vector, the polygons and per-class table."""
import json

import numpy as np
import paddle
import pytest
import rasterio
from pyogrio.raw import read
from rasterio.transform import from_origin

from paddle_segformer.io.raster import RasterMeta, write_label_raster

from .test_geotiff import _config, _dataset

COLOURS = {0: (200, 0, 0, 255), 1: (0, 200, 0, 255), 2: (0, 0, 200, 255), 3: (90, 90, 90, 255)}


def labels(h=1300, w=1100, seed=0):
    rng = np.random.default_rng(seed)
    a = np.kron(rng.integers(0, 4, (h // 50 + 1, w // 50 + 1)), np.ones((50, 50), int))[:h, :w].astype(np.uint8)
    a[rng.random(a.shape) < 0.01] = 2
    a[:200, :300] = 255
    return a


def assert_cog(path, values):
    """LAYOUT=COG, 512 px tiles, deflate, overviews whose pixels are all values of the labels."""
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.block_shapes == [(512, 512)] and src.compression.name.lower() == "deflate"
        factors = src.overviews(1)
        assert factors and factors[0] == 2
        for factor in factors:
            small = src.read(1, out_shape=(-(-src.height // factor), -(-src.width // factor)))
            assert set(np.unique(small).tolist()) <= set(values)  # class ids, never an average of two
        return src.read(1), src.nodata, src.colormap(1), src.crs, src.transform


def test_label_raster_is_a_cog_with_class_overviews(tmp_path):
    a = labels()
    meta = RasterMeta(a.shape[0], a.shape[1], 1, "uint8", rasterio.crs.CRS.from_epsg(32633),
                      from_origin(500000.0, 4000000.0, 10.0, 10.0), 255)
    write_label_raster(tmp_path / "lab.tif", a, meta, COLOURS, nodata=255)
    data, nodata, colormap, crs, transform = assert_cog(tmp_path / "lab.tif", np.unique(a).tolist())
    np.testing.assert_array_equal(data, a)
    assert nodata == 255 and colormap[3] == COLOURS[3] and crs == meta.crs and transform == meta.transform
    with rasterio.open(tmp_path / "lab.tif") as src:
        overview = src.read(1, out_shape=(650, 550))
    assert (overview[:100, :150] == 255).all() and (overview[100:] != 255).all()  # nodata stays where it was
    assert [p.name for p in tmp_path.iterdir()] == ["lab.tif"]  # the temporary GeoTIFF and COG are gone


def test_small_label_raster_is_a_cog_without_overviews(tmp_path):
    meta = RasterMeta(40, 60, 1, "uint8", None, None, None)
    write_label_raster(tmp_path / "small.tif", np.arange(2400).reshape(40, 60) % 3, meta, COLOURS)
    with rasterio.open(tmp_path / "small.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1) == []
        assert src.read(1).max() == 2


def test_predict_writes_cog_scenes_and_polygons(tmp_path, registered):
    """predict.py --tile ... --vector FILE on a GeoTIFF scene: a COG label raster, polygons covering exactly
    its valid pixels, the per-class table beside them; the same for a non-tiled prediction."""
    from paddle_segformer.cli.predict import run
    from paddle_segformer.integration.config import load_config

    root = _dataset(tmp_path, 4, "uint16", nodata=0, n=2, size=96)
    cfg = _config(tmp_path, root, 4)
    _, builder = load_config(str(cfg))
    paddle.seed(0)
    paddle.save(builder.model.state_dict(), str(tmp_path / "m.pdparams"))
    common = ["--config", str(cfg), "--model_path", str(tmp_path / "m.pdparams"), "--backend", "paddle"]
    for name, extra in (("tiled", ["--tile", "64", "--overlap", "16"]), ("whole", ["--tile", "0"])):
        out = tmp_path / name
        summary = run(common + ["--image_path", str(root / "img"), "--save_dir", str(out),
                                "--vector", str(out / "parcels.gpkg"), "--min_area", "200"] + extra)
        assert not summary.failed
        valid = sum(int((_read(p)[0] != 255).sum()) for p in sorted((out / "geotiff").glob("*.tif")))
        assert (out / "label" / "T0001.png").is_file() == (name == "whole")  # PNGs beside GeoTIFFs untiled
        meta, _, _, fields = read(out / "parcels.gpkg")
        assert rasterio.crs.CRS.from_user_input(meta["crs"]) == _read(out / "geotiff" / "T0001.tif")[2]
        assert sum(fields[2]) == pytest.approx(valid * 100.0)  # 10 m pixels; nodata is no polygon
        assert set(fields[4]) == {"T0000", "T0001"} and fields[2].min() >= 200  # small regions merged away
        table = json.loads((out / "parcels.classes.json").read_text())
        assert table["valid_area"] == pytest.approx(valid * 100.0)
        assert (out / "parcels.classes.csv").is_file()


def _read(path):
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.nodata == 255
        return src.read(1), src.nodata, src.crs
