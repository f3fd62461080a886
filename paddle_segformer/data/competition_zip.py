"""Unpack the parcel competition's archives (遥感影像地块分割) into the folder layout the configs expect.

The archives as distributed hold ``img_train/*.jpg``, ``lab_train/*.png`` and ``img_testA/*.jpg`` under
whatever top folder; :func:`prepare` finds those folders at any depth, checks before writing anything that
every training image has a label, extracts with a progress bar (each file atomically), counts label values,
and writes ``manifest.json`` (every file's size and CRC-32, the counts) last. A second run with the same
archives finds the manifest and does nothing; an ``out`` that holds a different dataset is refused. No paddle.
"""
from __future__ import annotations

import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..io.atomic import atomic_path, atomic_write_bytes
from ..io.image import label_value_counts

logger = logging.getLogger(__name__)

# folder -> the file suffixes it holds (lower case); test folders A and B as the competition had both
LAYOUT: Dict[str, Tuple[str, ...]] = {"img_train": (".jpg", ".jpeg"), "lab_train": (".png",),
                                      "img_testA": (".jpg", ".jpeg"), "img_testB": (".jpg", ".jpeg")}
MANIFEST = "manifest.json"
IGNORE_INDEX = 255


class DatasetConflict(ValueError):
    """``out`` already holds files of another dataset; the message names the folder and a differing file."""


@dataclass(frozen=True)
class Member:
    """One layout file inside an archive: where it comes from and where it goes (``folder/name``)."""

    archive: str
    name: str  # the member's name inside the archive
    target: str  # e.g. "img_train/T000001.jpg"
    size: int
    crc: int


@dataclass
class PrepareReport:
    """What :func:`prepare` found: files per folder, label values and their pixel counts, stray files."""

    out: Path
    counts: Dict[str, int]
    label_values: Dict[int, int]
    stray: List[str] = field(default_factory=list)
    extracted: int = 0
    unchanged: bool = False

    def class_frequencies(self, ignore_index: int = IGNORE_INDEX) -> Dict[int, float]:
        """Share of each labelled class among scored pixels (``ignore_index`` left out)."""
        scored = {v: n for v, n in self.label_values.items() if v != ignore_index}
        total = sum(scored.values()) or 1
        return {v: n / total for v, n in sorted(scored.items())}

    def summary(self, num_classes: int = 4) -> str:
        """A few lines for the user: tiles, label values, class frequencies, stray files, what was done."""
        tiles = ", ".join(f"{folder} {n}" for folder, n in self.counts.items() if n)
        total = sum(self.label_values.values()) or 1
        values = ", ".join(f"{v}: {n / total:.2%}" for v, n in sorted(self.label_values.items()))
        freqs = ", ".join(f"{v}: {f:.2%}" for v, f in self.class_frequencies().items())
        lines = [f"{self.out}: {tiles}", f"label values (share of all pixels): {values}",
                 f"class frequencies (scored pixels): {freqs}"]
        bad = [v for v in self.label_values if v >= num_classes and v != IGNORE_INDEX]
        if bad:
            lines.append(f"warning: label values outside 0..{num_classes - 1} and {IGNORE_INDEX}: {sorted(bad)}")
        if self.stray:
            lines.append(f"skipped {len(self.stray)} file(s) outside the layout: {', '.join(self.stray[:5])}"
                         + (" ..." if len(self.stray) > 5 else ""))
        lines.append("already prepared: nothing extracted" if self.unchanged else f"extracted {self.extracted} file(s)")
        return "\n".join(lines)


def _layout_target(name: str) -> str:
    """``top/any/img_train/T1.jpg`` -> ``img_train/T1.jpg``; "" for anything outside the layout."""
    path = PurePosixPath(name.replace("\\", "/"))
    if "__MACOSX" in path.parts or path.name.startswith("."):
        return ""
    folder = path.parent.name
    if folder in LAYOUT and path.suffix.lower() in LAYOUT[folder]:
        return f"{folder}/{path.name}"
    return ""


def scan_archives(archives: Sequence[str]) -> Tuple[Dict[str, Member], List[str]]:
    """Layout files of all archives by target (``img_train/T1.jpg``), and the stray files' names.

    Raises FileNotFoundError / ValueError naming the archive: missing, not a zip, no layout file, or
    two archives holding different files under one target.
    """
    members: Dict[str, Member] = {}
    stray: List[str] = []
    for archive in archives:
        if not Path(archive).is_file():
            raise FileNotFoundError(f"{archive}: archive not found")
        if not zipfile.is_zipfile(archive):
            raise ValueError(f"{archive}: not a zip archive")
        found = 0
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if info.is_dir():
                    continue
                target = _layout_target(info.filename)
                if not target:
                    stray.append(f"{archive}:{info.filename}")
                    continue
                member = Member(str(archive), info.filename, target, info.file_size, info.CRC)
                old = members.get(target)
                if old and (old.size, old.crc) != (member.size, member.crc):
                    raise ValueError(f"{target} is in {old.archive} ({old.name}) and, different, in {archive} "
                                     f"({info.filename})")
                members.setdefault(target, member)
                found += 1
        if not found:
            raise ValueError(f"{archive}: holds no {', '.join(f + '/' for f in LAYOUT)} files")
    return members, stray


def check_pairs(members: Dict[str, Member]) -> None:
    """Every ``img_train`` image has a ``lab_train`` PNG of the same stem and vice versa (ValueError naming
    the first few that do not, and the archive they are in)."""
    stems = {folder: {PurePosixPath(t).stem: m for t, m in members.items() if t.startswith(folder + "/")}
             for folder in ("img_train", "lab_train")}
    problems = [f"{m.archive}: {m.name} has no label lab_train/{stem}.png"
                for stem, m in sorted(stems["img_train"].items()) if stem not in stems["lab_train"]]
    problems += [f"{m.archive}: {m.name} has no image img_train/{stem}.jpg"
                 for stem, m in sorted(stems["lab_train"].items()) if stem not in stems["img_train"]]
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ValueError(f"{len(problems)} unpaired training file(s){more}:\n  " + "\n  ".join(problems[:10]))


def _manifest_files(members: Dict[str, Member]) -> Dict[str, List[int]]:
    return {t: [m.size, m.crc] for t, m in sorted(members.items())}


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _check_out(out: Path, files: Dict[str, List[int]]) -> Dict[str, object]:
    """The saved manifest when ``out`` already holds exactly this dataset, else {} (nothing or a part of it
    there, e.g. an interrupted run or one archive of two: extraction completes it). DatasetConflict when
    ``out`` holds a layout file that is not in the archives or differs from its copy there."""
    if (out / MANIFEST).is_file():
        saved = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        theirs = saved.get("files") or {}
        if theirs == files:
            return saved
        differing = sorted(t for t in theirs if files.get(t) != theirs[t])
        if differing:
            raise DatasetConflict(f"{out} holds a different dataset ({out / MANIFEST}: {len(theirs)} files, "
                                  f"the archives: {len(files)}; e.g. {differing[0]} is not in the archives or "
                                  f"differs): remove it or choose another --out")
        return {}
    for folder in LAYOUT:
        for path in sorted((out / folder).glob("*")) if (out / folder).is_dir() else []:
            target = f"{folder}/{path.name}"
            if path.is_file() and not path.name.startswith(".") and (
                    target not in files or [path.stat().st_size, _file_crc(path)] != files[target]):
                raise DatasetConflict(f"{out} holds a different dataset: {path} is not in the archives or "
                                      f"differs from its copy there; remove it or choose another --out")
    return {}


def _extract(members: Dict[str, Member], out: Path, progress: bool) -> Tuple[int, Dict[int, int]]:
    """Write every member not already there (atomically); count label values. Returns (written, counts)."""
    from tqdm import tqdm

    label_counts: Dict[int, int] = {}
    written = 0
    by_archive: Dict[str, List[Member]] = {}
    for member in members.values():
        by_archive.setdefault(member.archive, []).append(member)
    with tqdm(total=len(members), desc="unpack", unit="file", disable=not progress) as bar:  # shown in notebooks too
        for archive, items in by_archive.items():
            with zipfile.ZipFile(archive) as handle:
                for member in sorted(items, key=lambda m: m.target):
                    dst = out / member.target
                    data = None
                    if not (dst.is_file() and dst.stat().st_size == member.size):  # resumed run: kept (CRC checked)
                        try:
                            data = handle.read(member.name)  # zipfile checks the CRC-32
                        except (zipfile.BadZipFile, OSError, EOFError) as exc:
                            raise ValueError(f"{archive}: cannot read {member.name}: {exc}") from exc
                        atomic_write_bytes(dst, data)
                        written += 1
                    if member.target.startswith("lab_train/"):
                        _count_label(data if data is not None else dst.read_bytes(), member, label_counts)
                    bar.update(1)
    return written, label_counts


def _count_label(data: bytes, member: Member, counts: Dict[int, int]) -> None:
    """Add the label's pixel count per value to ``counts`` (PIL, as the loader: palette PNGs give indices)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            label = np.asarray(img) if img.mode in ("P", "L", "I", "I;16") else None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{member.archive}: {member.name} is not a readable PNG ({exc})") from exc
    if label is None or label.ndim != 2:
        raise ValueError(f"{member.archive}: {member.name} is not a single-band label PNG")
    for value, n in zip(*label_value_counts(label)):
        counts[int(value)] = counts.get(int(value), 0) + int(n)


def prepare(archives: Sequence[str], out: str, progress: bool = True) -> PrepareReport:
    """Unpack ``archives`` into ``out/{img_train,lab_train,img_testA}``; see the module docstring."""
    members, stray = scan_archives(archives)
    check_pairs(members)
    out_path = Path(out)
    files = _manifest_files(members)
    saved = _check_out(out_path, files)
    counts = {folder: sum(t.startswith(folder + "/") for t in members) for folder in LAYOUT}
    if saved:
        values = {int(v): int(n) for v, n in saved["label_values"].items()}
        report = PrepareReport(out_path, counts, values, stray, 0, unchanged=True)
    else:
        written, values = _extract(members, out_path, progress)
        with atomic_path(out_path / MANIFEST) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            json.dump({"archives": [Path(a).name for a in archives], "counts": counts,
                       "label_values": {str(v): n for v, n in sorted(values.items())}, "files": files}, handle)
        report = PrepareReport(out_path, counts, values, stray, written)
    for name in stray:
        logger.debug("not part of the layout, skipped: %s", name)
    return report
