"""Prediction: folder predictor (dynamic model) and exported static-model runtime."""
