"""Reading and writing files: atomic writes, images (checked whole before decoding), rasters (GeoTIFF),
the cache folder. Imports no paddle."""
