"""What an evaluation produces: metrics, the evaluation report (metrics.json, confusion matrix), colour
baselines, palettes, panels and figures."""
