"""One report for a prediction split across processes: each rank's report merged by rank 0.

Ranks exchange their results through files in the save folder, not through collective communication: each
rank writes ``.predict_report.rank<R>.json`` atomically when its share is done, and rank 0 waits for all of
them (with a timeout that names the rank missing), then writes ``predict_report.json`` (per file: status,
seconds, error) and logs the merged summary. So prediction needs no process group: no gloo / NCCL set-up, no
collective that hangs the job when one node dies, and the save folder (which every rank writes anyway, shared
across nodes) is the only thing the processes share. A rank report names its launch (the launcher's master
address), so one left by an earlier launch is not taken for this one's.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

from ..io.atomic import atomic_write_bytes
from .shards import Shard

logger = logging.getLogger(__name__)

REPORT = "predict_report.json"
RANK_REPORT = ".predict_report.rank{rank}.json"


class RankReportMissing(TimeoutError):
    """A rank did not report in time: it died, or its node cannot write the shared save folder."""


@dataclass
class JobReport:
    """Per-file results of every rank (``files``: name -> status, seconds, error) and the slowest rank's time."""

    world: int = 1
    seconds: float = 0.0
    files: Dict[str, dict] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for record in self.files.values() if record["status"] == status)

    def line(self) -> str:
        """The merged summary: files, failures, skipped, time, images per second."""
        done = self.count("written")
        rate = done / self.seconds if self.seconds > 0 else 0.0
        return (f"all {self.world} process(es): predicted {done} image(s), {self.count('failed')} failed, "
                f"{self.count('skipped')} skipped (done before), {self.seconds:.1f} s, {rate:.2f} images/s")


def rank_path(save_dir: str, rank: int) -> Path:
    return Path(save_dir) / RANK_REPORT.format(rank=rank)


def clear_rank_report(save_dir: str, shard: Shard) -> None:
    """Remove this rank's report of an earlier run (at start, before any work)."""
    rank_path(save_dir, shard.rank).unlink(missing_ok=True)


def write_rank_report(save_dir: str, shard: Shard, files: Dict[str, dict], seconds: float) -> None:
    """This rank's results, atomically (rank 0 reads it only whole)."""
    data = {"rank": shard.rank, "world": shard.world, "run": shard.run, "seconds": seconds, "files": files}
    atomic_write_bytes(rank_path(save_dir, shard.rank), json.dumps(data, sort_keys=True).encode("utf-8"))


def _read_rank(save_dir: str, rank: int, shard: Shard):
    try:
        data = json.loads(rank_path(save_dir, rank).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same_run = data.get("run") == shard.run and data.get("world") == shard.world
    return data if same_run else None


def gather(save_dir: str, shard: Shard, timeout: float, poll: float = 0.5) -> JobReport:
    """Rank 0: wait up to ``timeout`` seconds for every rank's report and merge them; raises
    :class:`RankReportMissing` naming the ranks that did not report."""
    deadline, reports = time.monotonic() + timeout, {}
    while True:
        for rank in range(shard.world):
            if rank not in reports:
                found = _read_rank(save_dir, rank, shard)
                if found is not None:
                    reports[rank] = found
        missing = [rank for rank in range(shard.world) if rank not in reports]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    if missing:
        names = ", ".join(str(rank_path(save_dir, rank)) for rank in missing)
        raise RankReportMissing(f"rank(s) {', '.join(map(str, missing))} of {shard.world} did not report within "
                                f"{timeout:.0f} s (missing {names}): the process died or cannot write the save "
                                f"folder. Finished outputs are kept; run the same command again to do the rest.")
    merged = JobReport(world=shard.world)
    for rank in sorted(reports):
        merged.files.update(reports[rank]["files"])
        merged.seconds = max(merged.seconds, float(reports[rank]["seconds"]))
    return merged


def write_report(save_dir: str, report: JobReport) -> Path:
    """``predict_report.json`` (atomic) and the rank reports it replaces removed."""
    path = Path(save_dir) / REPORT
    data = {"processes": report.world, "seconds": round(report.seconds, 3),
            "counts": {status: report.count(status) for status in ("written", "failed", "skipped")},
            "files": dict(sorted(report.files.items()))}
    atomic_write_bytes(path, json.dumps(data, indent=1).encode("utf-8"))
    for rank in range(report.world):
        rank_path(save_dir, rank).unlink(missing_ok=True)
    return path
