"""Label rasters as polygons: one polygon per connected region of a class, vectorised in strips of rows with
bounded memory and stitched across strip edges exactly (:mod:`.polygons`), small regions merged into a
neighbour and the coverage simplified without gaps or overlaps (:mod:`.coverage`), areas and perimeters in
metres (:mod:`.areas`), GeoPackage / FlatGeobuf / GeoJSON / GeoParquet and the per-class table
(:mod:`.writers`), the whole run over a raster or a folder of them (:mod:`.pipeline`).

Imports only :mod:`paddle_segformer.io` below it (and shapely, pyogrio, pyarrow, rasterio); no paddle.
"""
