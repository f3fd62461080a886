"""Label rasters to polygons (paddle_segformer.vector, vectorize.py, predict.py --vector): strips stitched
exactly as the whole raster, known areas / holes / perimeters, nodata, small-region merging, coverage
simplification, geographic areas, every output format read back, the per-class table, bad input."""
import json
import logging
import math

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import shapes
from rasterio.transform import from_origin

from paddle_segformer.cli.runtime import run_cli
from paddle_segformer.vector.options import VectorOptions
from paddle_segformer.vector.pipeline import vectorize
from paddle_segformer.vector.polygons import StripVectorizer

UTM = "EPSG:32633"
PIXEL = 2.0  # metres: every pixel is 4 m^2


def write_labels(path, labels, crs=UTM, transform=None, nodata=None, dtype="uint8"):
    transform = transform or from_origin(500000.0, 4000000.0, PIXEL, PIXEL)
    profile = dict(driver="GTiff", height=labels.shape[0], width=labels.shape[1], count=1, dtype=dtype,
                   transform=transform, nodata=nodata)
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(labels.astype(dtype)[None])
    return path


def scene(h=97, w=83):
    """Background 0; a rectangle 1 crossing strip edges; a ring 2 around a core 3 (a hole); single-pixel
    specks of 3 on strip edges; a diagonal pair of 1-specks (two regions); nodata (255) in a corner."""
    a = np.zeros((h, w), np.uint8)
    a[5:40, 3:30] = 1  # 35 x 27 = 945 px
    a[45:85, 40:75] = 2
    a[55:75, 50:65] = 3  # the ring's hole: 20 x 15 = 300 px; the ring 40 * 35 - 300 = 1100 px
    a[16, 60] = a[32, 10] = 3  # specks on the edge rows of 16-row strips (32 inside the rectangle)
    a[88, 10] = a[89, 11] = 1  # touching at a corner only: two regions under 4-connectivity
    a[90:, 70:] = 255
    return a


def whole_polygons(a, nodata=None):
    mask = None if nodata is None else a != nodata
    return sorted((shapely.normalize(shapely.geometry.shape(s)).wkb, int(v))
                  for s, v in shapes(a, mask=mask, connectivity=4))


@pytest.mark.parametrize("strip", [1, 7, 16, 64, 200])
def test_strips_give_exactly_the_whole_raster_polygons(strip):
    rng = np.random.default_rng(strip)
    a = scene()
    blocks = np.kron(rng.integers(0, 3, (20, 20)), np.ones((5, 5), int))[:97, :83]
    a = np.where(a == 0, blocks.astype(np.uint8) + 4, a)  # parcels as the background
    a[rng.random(a.shape) < 0.02] = 9  # specks everywhere, strip edges included
    vec = StripVectorizer(*a.shape, nodata=255)
    for top in range(0, a.shape[0], strip):
        vec.add(a[top:top + strip], top)
    regions = vec.finish()
    got = sorted((shapely.normalize(g).wkb, int(c)) for g, c in zip(regions.geometry, regions.class_id))
    assert got == whole_polygons(a, 255)


def test_known_regions_areas_holes_and_nodata(tmp_path):
    a = scene()
    write_labels(tmp_path / "lab.tif", a, nodata=255)
    table, rows = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "p.gpkg"), strip_rows=16),
                            ["background", "field", "ring", "core"])
    by_class = {c: np.nonzero(table.class_id == c)[0] for c in range(4)}
    assert len(by_class[0]) == 1 and len(by_class[2]) == 1  # one polygon per region, cut or not
    assert len(by_class[1]) == 3 and len(by_class[3]) == 3  # rectangle + 2 diagonal specks; core + 2 specks
    field = by_class[1][np.argmax(table.area[by_class[1]])]
    assert table.area[field] == (945 - 1) * 4  # less the speck inside it
    assert table.perimeter[field] == (2 * (35 + 27) + 4) * PIXEL  # outline + the hole's
    assert shapely.get_num_interior_rings(table.geometry[field]) == 1  # the speck inside it
    ring = by_class[2][0]
    assert table.area[ring] == 1100 * 4 and shapely.get_num_interior_rings(table.geometry[ring]) == 1
    core = by_class[3][np.argmax(table.area[by_class[3]])]
    assert table.area[core] == 300 * 4
    valid = int((a != 255).sum())
    assert table.area.sum() == valid * 4  # nodata is no polygon, and nothing else is missing
    assert shapely.union_all(table.geometry).area == valid * 4  # no overlaps
    assert table.crs.to_string() == UTM and table.class_name[field] == "field"
    assert sum(r["count"] for r in rows) == len(table.geometry)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)


@pytest.mark.parametrize("ext", ["gpkg", "fgb", "geojson", "parquet"])
def test_every_format_reads_back(tmp_path, ext):
    from pyogrio.raw import read

    write_labels(tmp_path / "lab.tif", scene(), nodata=255)
    out = tmp_path / f"p.{ext}"
    table, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(out), strip_rows=16), ["a", "b", "c", "d"])
    if ext == "parquet":  # pyogrio's wheel has no Parquet driver: read it as GeoParquet with pyarrow
        import pyarrow.parquet as pq

        data = pq.read_table(out)
        geo = json.loads(data.schema.metadata[b"geo"])
        assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
        assert rasterio.crs.CRS.from_user_input(json.dumps(geo["columns"]["geometry"]["crs"])).to_epsg() == 32633
        geoms = shapely.from_wkb(data.column("geometry").to_pylist())
        area, names = np.array(data.column("area").to_pylist()), data.column("class_name").to_pylist()
    else:
        meta, _, geoms, fields = read(out)
        assert rasterio.crs.CRS.from_user_input(meta["crs"]).to_epsg() == 32633
        assert list(meta["fields"]) == ["class_id", "class_name", "area", "perimeter", "source"]
        geoms, area, names = shapely.from_wkb(geoms), fields[2], list(fields[1])
    np.testing.assert_allclose(shapely.area(geoms), area)
    # FlatGeobuf stores features in the order of its spatial index
    assert sorted(zip(names, area)) == sorted(zip(table.class_name, table.area))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def parcels(size=240, seed=0):
    """A field map: blocks of random classes with ragged borders and specks."""
    rng = np.random.default_rng(seed)
    blocks = np.kron(rng.integers(0, 4, (size // 24 + 1,) * 2), np.ones((24, 24), int))[:size, :size]
    shift = rng.integers(-3, 4, size)[:, None]  # each row moved sideways by its own amount
    ragged = blocks[np.arange(size)[:, None], (np.arange(size)[None] - shift) % size]
    a = np.where(rng.random((size, size)) < 0.5, blocks, ragged).astype(np.uint8)
    a[rng.random(a.shape) < 0.003] = 4
    return a


def test_simplify_keeps_a_valid_coverage(tmp_path):
    a = parcels()
    write_labels(tmp_path / "lab.tif", a)
    exact, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "exact.gpkg"), strip_rows=50))
    simple, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "s.gpkg"), simplify=3 * PIXEL,
                                                             strip_rows=50))
    assert len(simple.geometry) == len(exact.geometry)
    assert shapely.coverage_is_valid(simple.geometry) and shapely.is_valid(simple.geometry).all()
    assert shapely.get_num_coordinates(simple.geometry).sum() < 0.8 * shapely.get_num_coordinates(exact.geometry).sum()
    total = a.size * PIXEL ** 2
    assert simple.area.sum() == pytest.approx(total, rel=1e-9)  # no gaps, no overlaps: the extent is covered
    assert shapely.union_all(simple.geometry).area == pytest.approx(total, rel=1e-9)


def test_min_area_merges_into_the_longest_shared_edge(tmp_path):
    a = np.zeros((30, 40), np.uint8)
    a[:, 20:] = 1
    a[10:13, 18:20] = 2  # 6 px against class 0 on three sides (3 + 2 + 2 px), class 1 on one (3 px)
    a[11:14, 20:22] = 3  # 6 px against class 1 on three sides (7 px), 2 and 0 on the left (1 + 2 px)
    a[:4, :4] = 255
    a[1, 1] = 2  # an island in nodata: no neighbour to merge into, kept
    write_labels(tmp_path / "lab.tif", a, nodata=255)
    table, rows = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "m.fgb"), min_area=6 * 4 + 1,
                                                               strip_rows=11))
    assert sorted(table.class_id.tolist()) == [0, 1, 2]
    areas = dict(zip(table.class_id.tolist(), table.area.tolist()))
    assert areas[0] == (600 - 16 - 6 + 6) * 4 and areas[1] == (600 - 6 + 6) * 4 and areas[2] == 4
    assert all(shapely.get_num_interior_rings(table.geometry) == 0)  # merged specks leave no holes
    assert table.area.sum() == ((a != 255).sum()) * 4


def test_small_chunks_give_the_same_coverage(tmp_path, monkeypatch):
    """The in-place steps (noding, merging, moving to the CRS, measuring) replace the polygons a few
    vertices at a time to bound memory: chunks of one or two polygons give the very same result as one
    chunk holding every polygon (the whole coverage at once, as before chunks were counted in vertices)."""
    from paddle_segformer.vector import areas

    a = parcels(200, seed=5)
    a[60:80, 20:180] = 255
    write_labels(tmp_path / "lab.tif", a, nodata=255)
    options = VectorOptions(str(tmp_path / "p.fgb"), min_area=12 * 4, simplify=2.5 * PIXEL, strip_rows=50)
    monkeypatch.setattr(areas, "CHUNK_COORDS", 1 << 40)
    whole, _ = vectorize(tmp_path / "lab.tif", options)
    monkeypatch.setattr(areas, "CHUNK_COORDS", 40)
    parts = areas.chunks(whole.geometry)
    assert len(parts) > len(whole.geometry) // 3  # a chunk ends once it holds 40 vertices or more
    assert all(shapely.get_num_coordinates(whole.geometry[p])[:-1].sum() < 40 for p in parts)
    small, _ = vectorize(tmp_path / "lab.tif", options)
    assert shapely.to_wkb(small.geometry).tolist() == shapely.to_wkb(whole.geometry).tolist()
    assert small.class_id.tolist() == whole.class_id.tolist() and small.area.tolist() == whole.area.tolist()
    assert shapely.coverage_is_valid(small.geometry)


def authalic_q(lat, e):
    s = math.sin(math.radians(lat))
    return (1 - e * e) * (s / (1 - e * e * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e))


def ellipsoid_area(lon0, lon1, lat0, lat1, a=6378137.0, f=1 / 298.257223563):
    """The exact area of a longitude / latitude box on the WGS 84 ellipsoid (authalic latitude)."""
    e = math.sqrt(f * (2 - f))
    return a * a / 2 * math.radians(lon1 - lon0) * abs(authalic_q(lat1, e) - authalic_q(lat0, e))


def test_geographic_areas_are_equal_area_metres(tmp_path):
    step = 0.001  # degrees: about 111 m x 79 m at 45 degrees north
    a = np.zeros((300, 400), np.uint8)
    a[50:250, 100:350] = 1
    write_labels(tmp_path / "lab.tif", a, crs="EPSG:4326", transform=from_origin(10.0, 46.0, step, step))
    table, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "g.gpkg"), strip_rows=64))
    field = int(np.nonzero(table.class_id == 1)[0][0])
    truth = ellipsoid_area(10.1, 10.35, 45.75, 45.95)
    assert table.area[field] == pytest.approx(truth, rel=1e-6)  # the issue asks 0.5 %; measured 4e-9
    assert table.area.sum() == pytest.approx(ellipsoid_area(10.0, 10.4, 45.7, 46.0), rel=1e-6)
    assert table.crs.to_epsg() == 4326 and table.unit == "m"
    assert shapely.bounds(table.geometry[field]).tolist() == pytest.approx([10.1, 45.75, 10.35, 45.95])


def test_no_crs_is_pixel_units_with_a_warning(tmp_path, caplog):
    a = scene()
    write_labels(tmp_path / "lab.tif", a, crs=None, transform=rasterio.Affine.identity(), nodata=255)
    with caplog.at_level(logging.WARNING):
        table, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "p.geojson")))
    assert "no CRS" in caplog.text and table.unit == "px" and table.crs is None
    assert table.area.sum() == (a != 255).sum()


def test_no_crs_through_the_cli_is_one_warning_and_status_0(tmp_path, caplog):
    """vectorize.py on a raster without georeferencing: polygons in pixel units, status 0, our one warning
    and not rasterio's NotGeoreferencedWarning beside it."""
    import warnings

    from paddle_segformer.cli.vectorize import main

    with rasterio.open(tmp_path / "lab.tif", "w", driver="GTiff", height=30, width=20, count=1,
                       dtype="uint8") as dst:
        dst.write((np.arange(600).reshape(1, 30, 20) // 100).astype(np.uint8))
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_cli(main, ["--labels", str(tmp_path / "lab.tif"), "--out", str(tmp_path / "p.fgb")],
                       uses_paddle=False) == 0
    assert [w for w in caught if "Georeferenced" in type(w.message).__name__] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"{tmp_path / 'lab.tif'} has no CRS: polygons, areas and perimeters are in pixel units"]
    from pyogrio.raw import read

    meta, _, _, fields = read(tmp_path / "p.fgb")
    assert meta["crs"] is None and sum(fields[2]) == 600


def test_folder_and_table_files(tmp_path, capsys):
    """A predict.py save folder (its geotiff/): one file, each polygon naming its source; the table printed
    and written as CSV and JSON beside the output."""
    from paddle_segformer.cli.vectorize import main

    (tmp_path / "pred" / "geotiff").mkdir(parents=True)
    write_labels(tmp_path / "pred" / "geotiff" / "a.tif", scene(), nodata=255)
    write_labels(tmp_path / "pred" / "geotiff" / "b.tif", parcels(96))
    out = tmp_path / "out" / "parcels.gpkg"
    assert run_cli(main, ["--labels", str(tmp_path / "pred"), "--out", str(out), "--classes", "bg", "field"],
                   uses_paddle=False) == 0
    printed = capsys.readouterr().out
    assert "field" in printed and "class_2" in printed and "100.00%" in printed
    from pyogrio.raw import read

    _, _, _, fields = read(out)
    assert set(fields[4]) == {"a", "b"}
    csv_rows = (tmp_path / "out" / "parcels.classes.csv").read_text().splitlines()
    assert csv_rows[0] == "class_id,class_name,count,area,share" and csv_rows[1].startswith("0,bg,")
    doc = json.loads((tmp_path / "out" / "parcels.classes.json").read_text())
    assert doc["unit"] == "m^2" and doc["valid_area"] == pytest.approx(sum(fields[2]))
    assert sum(c["count"] for c in doc["classes"]) == len(fields[0])


@pytest.mark.parametrize("case, message", [
    ("missing", "no such label raster"), ("float", "not class ids"), ("bands", "one band"),
    ("extension", "unknown vector format"), ("wide", "lab.tif: label values do not fit 32 bits")])
def test_bad_input_is_one_error_line(tmp_path, capsys, case, message):
    from paddle_segformer.cli.vectorize import main

    lab = tmp_path / "lab.tif"
    if case == "float":
        write_labels(lab, np.zeros((8, 8)), dtype="float32")
    elif case == "bands":
        with rasterio.open(lab, "w", driver="GTiff", height=8, width=8, count=2, dtype="uint8") as dst:
            dst.write(np.zeros((2, 8, 8), np.uint8))
    elif case == "extension":
        write_labels(lab, np.zeros((8, 8)))
    elif case == "wide":
        write_labels(lab, np.full((8, 8), 2 ** 32 - 1), dtype="uint32")
    out = tmp_path / ("p.shp" if case == "extension" else "p.gpkg")
    assert run_cli(main, ["--labels", str(lab), "--out", str(out)], uses_paddle=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_large_raster_in_strips_equals_whole(tmp_path):
    a = parcels(2048, seed=3)
    a[700:900, 300:1800] = 255
    write_labels(tmp_path / "lab.tif", a, nodata=255)
    table, _ = vectorize(tmp_path / "lab.tif", VectorOptions(str(tmp_path / "p.fgb"), strip_rows=256))
    # back to pixel coordinates (+ 0.0: -0.0 from the division would differ in WKB)
    pixel = shapely.transform(table.geometry, lambda xy: (xy - [500000.0, 4000000.0]) / [PIXEL, -PIXEL] + 0.0)
    got = sorted((shapely.normalize(g).wkb, int(c)) for g, c in zip(pixel, table.class_id))
    assert got == whole_polygons(a, 255)
