"""Argument parsing and wiring for the top-level scripts; each has a function a notebook can call."""
