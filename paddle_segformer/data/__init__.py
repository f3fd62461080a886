"""Datasets (competition tiles, GeoTIFFs, Cityscapes), transforms, data checks, label ids, splits, archive
preparation, and the synthetic data of the demo and the tests."""
