"""What a whole prediction job finished, whichever process did it: read from every rank's resume journal.

Rank 0 uses it once the ranks' reports are merged (or once ``--report_timeout`` gave up on a rank) for what
needs every rank's files and is made once: the polygons of ``predict.py --vector``. The journals
(:mod:`.resume`) already say which inputs were finished with this run's weights and options and that their
outputs still stand, whichever rank wrote them, so no rank has to send its list of outputs anywhere; an input
whose rank died before finishing it is simply not there, and is named as missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from ..io.image import RASTER_EXTS
from .folder_outputs import input_files, input_name, output_targets
from .resume import Manifest


@dataclass
class JobGeotiffs:
    """The label GeoTIFFs of a job's raster inputs finished with its key (input order) and the names of the
    raster inputs that were not (failed, or their process died or has not finished)."""

    found: List[Path] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)


def job_geotiffs(image_path: str, save_dir: str, key: str) -> JobGeotiffs:
    """The label GeoTIFFs of every raster input at ``image_path`` that some rank finished into ``save_dir`` with
    resume ``key`` (this run or an earlier one with the same weights and options), outputs unchanged since."""
    files, base = input_files(image_path)
    manifest, result = Manifest(save_dir, key), JobGeotiffs()
    for path, targets in zip(files, output_targets(files, base, Path(save_dir))):
        if not str(path).lower().endswith(RASTER_EXTS):
            continue  # a JPG / PNG input has no label GeoTIFF
        name = input_name(path, base)
        if isinstance(targets, dict) and manifest.done(name) and targets["geotiff"].is_file():
            result.found.append(targets["geotiff"])
        else:
            result.missing.append(name)
    return result
