"""Weights: the checkpoint formats (NVlabs, Hugging Face, PaddleSeg) as declarative tables, reading them,
strict loading with band adaptation, and export to Hugging Face.

The mappings are tables (:mod:`.formats`) run by one small engine (:mod:`.rules`); reading files lives in
:mod:`.checkpoint`, loading into a layer in :mod:`.loading`, writing converted files in :mod:`.convert`.
Nothing here needs torch except reading ``.pth``/``.bin``; nothing here imports the model.
"""
