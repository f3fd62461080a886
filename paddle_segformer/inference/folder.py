"""Predict every image of a folder: reading and writing overlap with the model's compute.

One reader thread decodes up to ``PREFETCH`` files ahead and one writer thread encodes the outputs of
finished ones and makes them durable in groups of images (:mod:`.grouped_writer`: a disk flush per group,
not two per file), both through bounded queues, so the model never waits for the disk and memory holds a
few images, not the folder. Under OpenVINO two images are predicted at once, each on its own stream
(:mod:`.lanes`), and collected in order. The resume journal records an image only once its group is on
disk. Decoding (Pillow, OpenCV, GDAL) and PNG encoding release the GIL.
OpenCV runs single-threaded meanwhile: its thread pool only contended with the runtime, which already
uses every core (a 512^2 JPG read took 7.7 ms of CPU on two of OpenCV's threads, 3.6 ms on one, in
the same wall time).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from ..io.image import RASTER_EXTS
from ..io.raster import score_path
from .folder_outputs import Outputs, input_files, input_name, output_targets
from .grouped_writer import GroupedWriter
from .lanes import Lanes
from .predictor import Loaded, Predictor
from .readahead import read_ahead
from .resume import Manifest
from .scene_bands import SceneBands, predict_scene_band
from .shards import FolderJob
from .tiled import Tiling

if TYPE_CHECKING:
    from ..data.label_ids import LabelIds
    from .job_report import JobReport

logger = logging.getLogger(__name__)

PREFETCH = 2  # files decoded ahead of the model (each may be a large raster: keep it small)
MAX_PENDING_WRITES = 8  # finished predictions waiting for the writer (more than its groups hold)


@dataclass
class PredictSummary:
    """What a folder prediction did."""

    written: List[Path] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    skipped: List[Path] = field(default_factory=list)  # outputs already done with the same key (resume)
    files: Dict[str, dict] = field(default_factory=dict)  # input (relative) -> status, seconds, error
    job: Optional["JobReport"] = None  # rank 0: every rank's files merged (cli.predict)

    def report(self) -> str:
        lines = [f"predicted {len(self.written)} image(s), {len(self.failed)} failed, {self.seconds:.1f} s"]
        lines += [f"  FAILED {path}: {reason}" for path, reason in self.failed]
        return "\n".join(lines)


def predict_folder(predictor: Predictor, image_path: str, save_dir: str, num_classes: int,
                   on_progress: Optional[Callable[[int, int], None]] = None,
                   tiling: Optional[Tiling] = None,
                   colours: Optional[Sequence[Tuple[int, int, int]]] = None,
                   label_ids: Optional["LabelIds"] = None, job: Optional[FolderJob] = None,
                   save_scores: bool = False) -> PredictSummary:
    """Predict every image under ``image_path`` (recursively: jpg/png/bmp/tif; or the images a list
    file names, paths relative to its folder, as in PaddleSeg).

    Writes ``label/`` (submission-ready palette PNGs whose pixel values are class ids),
    ``pseudo_color/`` and ``overlay/`` under ``save_dir``, keeping sub-folders and file stems; for a
    tif also ``geotiff/NAME.tif`` with the source's CRS, transform and nodata and a colour table.
    With ``tiling`` a tif is predicted as a scene in tiles and only its
    ``geotiff/`` output is written (PNGs of a 20,000-pixel scene would not fit the point of tiling).
    ``save_scores``: tif inputs also get ``geotiff/NAME_score.tif``, the winning class's probability
    (uint8, :mod:`.scores`), other images ``score/NAME.png``.
    An image whose forward pass would exceed the predictor's memory budget is predicted in tiles, or
    refused before the pass where it cannot be tiled (:meth:`Predictor.set_memory_budget`).
    A file that fails is reported in the summary and the others are still written.
    ``job`` (:class:`~paddle_segformer.inference.shards.FolderJob`): only this process's share of the files,
    and with a resume key the files finished before with that key skipped (paddle_segformer.inference.resume).
    """
    from tqdm import tqdm

    if tiling and not predictor.plain:
        raise ValueError("tiled scene prediction does not combine with test-time augmentation or is_slide; "
                         "turn those off or predict without --tile")
    files, base = input_files(image_path)
    targets = output_targets(files, base, Path(save_dir))
    outputs = Outputs(num_classes, colours or predictor.class_colours, predictor.nodata_label, label_ids,
                      save_scores)
    scene = [bool(tiling) and str(path).lower().endswith(RASTER_EXTS) for path in files]
    names = [input_name(path, base) for path in files]
    run = _Run(PredictSummary(), names, targets, scene, job or FolderJob(), save_dir, save_scores)
    todo = run.plan(files)
    bands = run.scene_bands(len(files))
    start = time.time()

    def load(k: int):  # runs on the reader thread; a scene to tile is read window by window later
        i = todo[k]
        if isinstance(targets[i], Exception):
            raise targets[i]
        return None if scene[i] else predictor.load(files[i])

    writes: Deque[Tuple[int, float, Future]] = deque()
    computing: Deque[Tuple[int, float, Future]] = deque()  # predictions in flight (futures of their writes)
    lanes = None if tiling else Lanes.for_folder(predictor, len(todo))
    with tqdm(total=len(todo), desc="predict", unit="img", disable=None) as bar, _opencv_threads(1), \
            GroupedWriter() as writer, (lanes or nullcontext()), \
            closing(read_ahead(load, len(todo), PREFETCH)) as reads:
        for k, read in enumerate(reads):
            i, began = todo[k], time.time()
            args = (files[i], targets[i], outputs, tiling, writer, bands, i in run.owned)
            loaded = _result_or_error(read)
            if lanes is not None and isinstance(loaded, Loaded):
                computing.append((i, began, lanes.submit(_predict_one, lanes.predictor, loaded, *args)))
            else:  # one at a time (a scene, a failed read): after the images in flight
                _collect(run, files, computing, writes, 0)
                computing.append((i, began, _now(_predict_one, predictor, loaded, *args)))
            _collect(run, files, computing, writes, lanes.count - 1 if lanes else 0)
            _drain(run, files, writes, MAX_PENDING_WRITES, writer)
            bar.update(1)
            if on_progress:
                on_progress(k + 1, len(todo))
        _collect(run, files, computing, writes, 0)
        _drain(run, files, writes, -1, writer)
    run.summary.seconds = time.time() - start
    return run.summary


class _Run:
    """The bookkeeping of one folder prediction: the share to do, what was skipped, finished and failed
    (the summary's per-file records) and the resume manifest, written after each file's outputs are out."""

    def __init__(self, summary: PredictSummary, names: List[str], targets: List[Any], scene: List[bool],
                 job: FolderJob, save_dir: str, scores: bool = False):
        self.summary, self.names, self.targets, self.scene = summary, names, targets, scene
        self.scores = scores
        self.overwrite, self.job = job.overwrite, job
        self.shard = job.shard
        self.manifest = Manifest(save_dir, job.key, job.shard.rank) if job.key else None
        self.owned: Set[int] = set()

    def scene_bands(self, count: int) -> Optional[SceneBands]:
        """Scenes are split by rows across the ranks when there are fewer files than ranks (else per file; and
        without a resume key, which names the band parts so that a stale one is never taken; and with scores,
        which the band parts do not hold: such a scene is predicted whole by its owner)."""
        if self.shard.world > count and any(self.scene) and self.job.key and not self.scores:
            return SceneBands(self.shard.rank, self.shard.world, self.job.key, self.job.report_timeout)
        return None

    def plan(self, files: List[Path]) -> List[int]:
        """This rank's files still to do (in order; with scenes split by rows, every scene: a band of each);
        the others of its share are recorded as skipped."""
        todo, self.owned = [], set(self.shard.pick(files))
        banded = self.scene_bands(len(files)) is not None
        for i in range(len(files)):
            if i not in self.owned and not (banded and self.scene[i]):
                continue
            if self.manifest and not self.overwrite and not isinstance(self.targets[i], Exception) \
                    and self.manifest.done(self.names[i]):
                if i in self.owned:
                    self.summary.skipped.append(self.targets[i]["geotiff" if self.scene[i] else "label"])
                    self.summary.files[self.names[i]] = {"status": "skipped", "seconds": 0.0, "error": None}
            else:
                todo.append(i)
        if self.summary.skipped:
            logger.info("skipping %d file(s) already predicted with the same weights and options "
                        "(--overwrite redoes them)", len(self.summary.skipped))
        return todo

    def finished(self, i: int, began: float, main_output: Path) -> None:
        self.finished_all([(i, began, main_output)])

    def finished_all(self, done: List[Tuple[int, float, Path]]) -> None:
        """Files ``done`` ((index, start time, main output)) listed as written and recorded in the journal
        together (one append made durable once)."""
        entries = []
        for i, began, main_output in done:
            self.summary.written.append(main_output)
            self.summary.files[self.names[i]] = {"status": "written", "seconds": round(time.time() - began, 3),
                                                 "error": None}
            kept = [self.targets[i][k] for k in ("geotiff", "score")] if self.scene[i] else \
                list(self.targets[i].values())
            entries.append((self.names[i], [path for path in kept if path.is_file()]))
        if self.manifest and entries:
            self.manifest.record_all(entries)

    def failed(self, i: int, path: Path, began: float, exc: BaseException) -> None:
        """Log and list the failure; the file's record is its owner's (a band of another's scene: none)."""
        _failed(self.summary, path, exc)
        if i in self.owned:
            self.summary.files[self.names[i]] = {"status": "failed", "seconds": round(time.time() - began, 3),
                                                 "error": self.summary.failed[-1][1]}


@contextmanager
def _opencv_threads(count: int) -> Iterator[None]:
    """OpenCV's thread count (process-wide) set to ``count`` for the duration, then restored."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _result_or_error(read: Future) -> Any:
    """A read's result, or the exception it raised (raised again by :func:`_predict_one`)."""
    try:
        return read.result()
    except Exception as exc:  # reported as this file's failure when collected
        return exc


def _now(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` run here, as a finished future (its result or its exception)."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as exc:  # collected in order like the lanes' failures
        future.set_exception(exc)
    return future


def _collect(run: "_Run", files: List[Path], computing: Deque[Tuple[int, float, Future]],
             writes: Deque[Tuple[int, float, Future]], keep: int) -> None:
    """Predictions collected in order, waiting on the oldest while more than ``keep`` are in flight: an
    image's write joins ``writes``, a scene written in place is finished (by its owner), a failure reported."""
    while computing and (len(computing) > keep or computing[0][2].done()):
        i, began, future = computing.popleft()
        try:
            write = future.result()
        except Exception as exc:  # one broken file must not stop the folder
            run.failed(i, files[i], began, exc)
            continue
        if write is not None:
            writes.append((i, began, write))
        elif i in run.owned:  # a scene (with bands split by rows: only its owner writes it)
            run.finished(i, began, run.targets[i]["geotiff"])


def _predict_one(predictor: Predictor, loaded: Any, path: Path, targets: Dict[str, Path], outputs: Outputs,
                 tiling: Optional[Tiling], writer: GroupedWriter, bands: Optional[SceneBands] = None,
                 owner: bool = True) -> Optional[Future]:
    """Predict one file as read: a scene to tile (``loaded`` None) is written here and None returned (with
    ``bands``: this rank's band, and the whole GeoTIFF by its ``owner``); an image's outputs are handed to
    ``writer`` (the returned future). ``loaded`` an exception: the read's, raised."""
    if isinstance(loaded, Exception):
        raise loaded
    if loaded is None and bands is not None:
        predict_scene_band(predictor, path, targets["geotiff"], outputs.num_classes, tiling, bands, owner,
                           outputs.colormap, outputs.nodata_label)
        return None
    if loaded is None:
        _predict_scene(predictor, path, targets["geotiff"], outputs, tiling)
        return None
    label, scores = predictor.labels_and_scores(loaded) if outputs.scores else (predictor.labels(loaded), None)
    return writer.submit(lambda group: outputs.write(targets, loaded.image, label, loaded.meta, scores,
                                                     group.write_bytes))


def _drain(run: _Run, files: List[Path], writes: Deque[Tuple[int, float, Future]], keep: int,
           writer: GroupedWriter) -> None:
    """Collect finished writes in order, waiting on the oldest while more than ``keep`` are pending
    (``keep`` -1: all of them; the writer is told to commit what it holds first); the finished ones are
    recorded in the resume journal together."""
    finished = []
    if writes and len(writes) > keep and not writes[0][2].done():
        writer.flush()
    while writes and (len(writes) > keep or writes[0][2].done()):
        i, began, future = writes.popleft()
        try:
            finished.append((i, began, future.result()))
        except Exception as exc:  # a write error loses this file's outputs only
            run.failed(i, files[i], began, exc)
    run.finished_all(finished)


def _predict_scene(predictor: Predictor, path: Path, dst: Path, outputs: Outputs, tiling: Tiling) -> None:
    from .tiled import predict_scene

    predict_scene(predictor.logits, predictor.preprocess, str(path), str(dst), outputs.num_classes,
                  tiling, colormap=outputs.colormap, nodata_fill=predictor.nodata_fill(),
                  nodata_label=outputs.nodata_label, scores_dst=str(score_path(dst)) if outputs.scores else None)


def _failed(summary: PredictSummary, path: Path, exc: BaseException) -> None:
    reason = str(exc)
    reason = reason[len(f"{path}: "):] if reason.startswith(f"{path}: ") else reason  # the path is said once
    logger.error("skipping %s: %s", path, reason)
    summary.failed.append((path, reason))
