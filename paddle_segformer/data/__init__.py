"""Datasets (need paddle) and the pure-python split logic."""
