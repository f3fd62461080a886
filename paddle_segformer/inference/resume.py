"""Resume a folder prediction: which files were already predicted with the same weights and options.

Each process appends to its own journal in the save folder, ``.predict_manifest.rank<R>.jsonl``: one line per
finished input, written only after all its outputs were published (renamed into place), holding the run's
``key`` (the weights' content hash and every option that changes the outputs) and the size and mtime of each
output. A file counts as done only if some line has this run's key and its outputs still stand exactly as
recorded, so:

- a file predicted with other weights or options is redone (another key), never kept stale;
- an output rewritten since (another run, another key) no longer matches its old line, whichever rank wrote it;
- a process killed mid-file leaves either no line (the file is redone) or a cut last line, which does not parse
  and is ignored: no false "done"; a failed file gets no line and is retried.

Why a journal and not one JSON file rewritten atomically per file: that would rewrite the whole manifest
after each of 100,000 tiles (quadratic); a line appended and fsync'ed is as safe with the tolerant reader.
Per-rank journals mean no two processes ever write one file; every process reads all of them, so a re-run
with another process count still skips what any rank finished.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

logger = logging.getLogger(__name__)

JOURNAL = ".predict_manifest.rank{rank}.jsonl"
Stamp = Tuple[int, int]  # (size, mtime_ns)


def _stamp(path: Path) -> Optional[Stamp]:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _read_journal(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut by a kill: that file is simply redone
                continue
            if isinstance(entry, dict) and "file" in entry and "outputs" in entry:
                yield entry


class Manifest:
    """The journals of ``save_dir`` read for ``key``; :meth:`record` appends to rank ``rank``'s journal."""

    def __init__(self, save_dir: str, key: str, rank: int = 0):
        self.root, self.key = Path(save_dir), key
        self.path = self.root / JOURNAL.format(rank=rank)
        self._done: Dict[str, List[Dict[str, Stamp]]] = {}
        self._prefix = "\n" if self.path.is_file() and not _ends_with_newline(self.path) else ""  # after a cut line
        for journal in sorted(self.root.glob(JOURNAL.format(rank="*"))):
            for entry in _read_journal(journal):
                if entry.get("key") == key:
                    outputs = {name: tuple(stamp) for name, stamp in entry["outputs"].items()}
                    self._done.setdefault(entry["file"], []).append(outputs)

    def done(self, name: str) -> bool:
        """True when input ``name`` (its path relative to the input folder) was finished with this key and
        its recorded outputs stand unchanged."""
        return any(outputs and all(_stamp(self.root / out) == stamp for out, stamp in outputs.items())
                   for outputs in self._done.get(name, ()))

    def record(self, name: str, outputs: Iterable[Path]) -> None:
        """Append input ``name``'s finished ``outputs`` (already published) to this rank's journal, durably."""
        self.record_all([(name, outputs)])

    def record_all(self, finished: Iterable[Tuple[str, Iterable[Path]]]) -> None:
        """:meth:`record` for several inputs ((name, outputs) each): their lines appended and made durable
        together (a kill mid-way cuts at most the last line, which the reader ignores)."""
        lines = []
        for name, outputs in finished:
            stamps = {}
            for path in outputs:
                stamp = _stamp(path)
                if stamp is not None:
                    stamps[Path(path).relative_to(self.root).as_posix()] = list(stamp)
            lines.append(json.dumps({"file": name, "key": self.key, "outputs": stamps}, sort_keys=True) + "\n")
        if not lines:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.write((self._prefix + "".join(lines)).encode("utf-8"))
            self._prefix = ""
            handle.flush()
            os.fsync(handle.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def resume_key(weights: str, **facts: object) -> str:
    """The manifest key: ``weights`` (the weights' content hash,
    :func:`paddle_segformer.inference.artifacts.fingerprint`) and every option that changes the outputs
    (``facts``, JSON-able; anything else through ``str``), hashed (sha256, 16 hex digits)."""
    text = json.dumps({"weights": weights, **facts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
