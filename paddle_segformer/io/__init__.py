"""Reading and writing files: atomic writes, images, rasters (GeoTIFF), the cache folder. Imports no paddle."""
