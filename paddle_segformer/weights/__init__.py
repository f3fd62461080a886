"""Weights: the checkpoint formats (NVlabs, Hugging Face, PaddleSeg) as declarative tables, reading them,
strict loading with band adaptation, and export to Hugging Face.

The mappings are tables (:mod:`.formats`) run by one small engine (:mod:`.rules`); every file or folder is
read by one reader (:mod:`.reader`: ``read_checkpoint``, and the rule for a folder holding several files),
converted and described in :mod:`.checkpoint`, loaded into a layer in :mod:`.loading` (what a load did:
:mod:`.load_report`), written as converted files in :mod:`.convert`. Every failure is one error type,
``CheckpointError`` (a ``ValueError``), whose message names the file. Nothing here needs torch except reading
``.pth``/``.bin``; nothing here imports the model.
"""
