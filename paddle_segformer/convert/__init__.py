"""Weight conversion between this package and the NVlabs, Hugging Face and PaddleSeg checkpoints.

The mappings are tables (:mod:`.formats`) run by one small engine (:mod:`.rules`); reading and
writing files lives in :mod:`.checkpoint`. Nothing here needs torch except reading ``.pth``/``.bin``.
"""
