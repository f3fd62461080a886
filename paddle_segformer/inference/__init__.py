"""Prediction: the inference graph, the runtimes, the artifact cache, the memory budget, tiling, the predictor,
folder and scene prediction, the static export."""
