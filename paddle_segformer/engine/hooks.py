"""The one place where stand-ins are put over what ``paddleseg.core.train`` looks up, in one declared order.

PaddleSeg's loop reads ``paddle``, ``shutil``, ``loss_computation``, ``optimizer.step``, ``model.forward``
(through ``model(images)``) and ``model.clear_gradients`` when it runs; this package changes what it finds
there (as mmengine's hooks change a runner, with declared priorities). :data:`HOOKS` is the whole list,
**outermost first**: on each slot the loop calls the first row's stand-in, which calls the next row's, down to
PaddleSeg's or Paddle's own object.

Two lifetimes:

- ``permanent`` rows make ``paddleseg.core.train`` work on Paddle 3.3 by itself (users call PaddleSeg's loop
  directly): :func:`install_permanent` puts them in once, from ``paddle_segformer.register()``. They are the
  innermost rows of their slots: everything else goes over them.
- the other rows live for one training run: :func:`training_hooks` puts them in (innermost first) and takes
  them out again (outermost first) when the run ends, also when it raises.

Every stand-in carries a mark naming its row and what it stands over; :func:`stack` reads a slot's stand-ins
back, outermost first, so tests can check a slot against the table.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..models.amp_policy import PolicyPaddle
from . import proxies
from .data_order import DataOrder, write_position
from .divergence import DivergenceGuard, restore_checkpoint
from .loss_scale import ScalerWatch, save_scaler_state
from .ordered_loader import OrderedPaddle
from .running_state import RunningState
from .whole_checkpoints import CheckpointFolders, StagedOs, StagedSavePaddle

logger = logging.getLogger(__name__)

TRAIN, VAL = "paddleseg.core.train", "paddleseg.core.val"  # module slots
MODEL, OPTIMIZER = "model", "optimizer"  # slots on the run's objects
MARK = "_paddle_segformer_hook"  # (row name, inner object) on every stand-in


@dataclass
class TrainingRun:
    """What one run's stand-ins work with: the divergence guard, the model, the optimizer, the resume folder,
    the data order and where its checkpoint folders are built (with the files each row adds to them)."""

    guard: DivergenceGuard
    model: Any
    optimizer: Any
    order: DataOrder
    folders: CheckpointFolders
    resume: Optional[str] = None


Wrap = Callable[[Any, Optional[TrainingRun]], Any]  # (inner object, run) -> the stand-in


@dataclass(frozen=True)
class Hook:
    """One row: the stand-in ``wrap`` makes for ``owner.attribute``, for the process or for one run."""

    name: str
    owner: str  # a module's dotted name, or MODEL / OPTIMIZER of the run
    attribute: str
    wrap: Wrap
    permanent: bool = False


def _watched_scaler(inner: Any, run: Optional[TrainingRun]) -> Any:
    assert run is not None
    watch = run.guard.amp = ScalerWatch(inner.amp, run.resume)
    run.folders.extras.append(lambda folder: save_scaler_state(watch.scaler, folder))
    return proxies.ScalerPaddle(inner, watch)


def _ordered_data(inner: Any, run: Optional[TrainingRun]) -> Any:
    assert run is not None
    ordered = OrderedPaddle(inner, run.order)  # its io.sampler is made by the loop, before any save
    run.folders.extras.append(lambda folder: write_position(ordered.io.sampler.position(run.guard.iteration),
                                                            folder))
    return ordered


HOOKS: Tuple[Hook, ...] = (  # outermost first
    # divergence guard: losses checked, bad updates skipped, bad iterations counted, NaN never saved
    Hook("divergence_guard", TRAIN, "loss_computation", lambda inner, run: proxies.recorded_losses(inner, run.guard)),
    Hook("divergence_guard", OPTIMIZER, "step", lambda inner, run: proxies.guarded_step(inner, run.guard, run.model)),
    Hook("divergence_guard", MODEL, "clear_gradients", lambda inner, run: proxies.counted_iterations(inner, run.guard)),
    Hook("divergence_guard", TRAIN, "paddle", lambda inner, run: proxies.CheckedSavePaddle(inner, run.guard)),
    # ... running state (BatchNorm statistics) copied before each training forward, put back on a skip
    Hook("divergence_guard", MODEL, "forward",
         lambda inner, run: proxies.state_kept_forward(inner, run.guard.running, run.model)),
    # ... keep_checkpoint_max never deletes the last good checkpoint
    Hook("divergence_guard", TRAIN, "shutil", lambda inner, run: proxies.SparingShutil(inner, run.guard)),
    # iter_N folders built hidden and renamed whole once their last file (and the rows' extras) is in
    Hook("whole_checkpoints", TRAIN, "paddle", lambda inner, run: StagedSavePaddle(inner, run.folders)),
    Hook("whole_checkpoints", TRAIN, "os", lambda inner, run: StagedOs(inner, run.folders)),
    # data order: the sampler resumes at the checkpoint's epoch and batch; samples and iterations seeded by
    # position (train_state.json in every iter_N)
    Hook("data_order", TRAIN, "paddle", _ordered_data),
    Hook("data_order", MODEL, "forward", lambda inner, run: proxies.seeded_forward(inner, run.order, run.guard,
                                                                                   run.model)),
    # loss scale: the loop's GradScaler kept (saved with iter_N, restored on resume, lowered on rollback)
    Hook("loss_scale", TRAIN, "paddle", _watched_scaler),
    # float32 islands: auto_cast / decorate with this package's lists, in training and evaluation
    Hook("amp_policy", TRAIN, "paddle", lambda inner, run: PolicyPaddle(inner)),
    Hook("amp_policy", VAL, "paddle", lambda inner, run: PolicyPaddle(inner)),
    # permanent: PaddleSeg 2.8's loop on Paddle 3.3
    Hook("atomic_checkpoints", TRAIN, "paddle", lambda inner, run: proxies.AtomicSavePaddle(inner), permanent=True),
    Hook("train_loss_0d", TRAIN, "loss_computation", lambda inner, run: proxies.losses_1d(inner), permanent=True),
)


def declared(owner: str, attribute: str) -> List[str]:
    """The rows of one slot, outermost first, as :data:`HOOKS` declares them."""
    return [hook.name for hook in HOOKS if (hook.owner, hook.attribute) == (owner, attribute)]


def stack(value: Any) -> List[str]:
    """The rows whose stand-ins ``value`` is made of, outermost first (stops at the first unmarked object)."""
    names = []
    while MARK in (getattr(value, "__dict__", None) or {}):
        name, value = value.__dict__[MARK]
        names.append(name)
    return names


def _owner(hook: Hook, run: Optional[TrainingRun]) -> Any:
    if hook.owner in (MODEL, OPTIMIZER):
        assert run is not None, f"{hook.name}: {hook.owner}.{hook.attribute} needs a training run"
        return getattr(run, hook.owner)
    return importlib.import_module(hook.owner)


def _install(hook: Hook, run: Optional[TrainingRun]) -> Callable[[], None]:
    """Put ``hook``'s stand-in over the slot's current object; returns what takes it out again."""
    owner = _owner(hook, run)
    own = hook.attribute in vars(owner)  # False for a method of the class: removing the stand-in reveals it
    inner = getattr(owner, hook.attribute)
    proxy = hook.wrap(inner, run)
    proxy.__dict__[MARK] = (hook.name, inner)
    setattr(owner, hook.attribute, proxy)

    def remove() -> None:
        if own:
            setattr(owner, hook.attribute, inner)
        else:
            delattr(owner, hook.attribute)

    return remove


_permanent: Dict[str, Any] = {}  # row name -> what its stand-in went over


def install_permanent() -> Dict[str, Any]:
    """Put the permanent rows in (once per process); returns {row name: the object it went over} for all of them."""
    for hook in reversed(HOOKS):
        if hook.permanent and hook.name not in _permanent:
            _permanent[hook.name] = getattr(_owner(hook, None), hook.attribute)
            _install(hook, None)
            logger.debug("hook %s installed on %s.%s", hook.name, hook.owner, hook.attribute)
    return dict(_permanent)


@contextlib.contextmanager
def training_hooks(guard: DivergenceGuard, model: Any, optimizer: Any, resume: Optional[str] = None,
                   seed: Optional[int] = None) -> Iterator[TrainingRun]:
    """For the block (one ``paddleseg.core.train`` call): every run row of :data:`HOOKS` in place, over the
    permanent ones, in the declared order. Everything is as before after the block, also when it raises.
    ``seed``: the run seed of the data order (a resumed run keeps its checkpoint's)."""
    import paddle

    install_permanent()
    rank = paddle.distributed.get_rank()
    folders = CheckpointFolders(guard.save_dir if rank == 0 else None)
    folders.remove_leftovers()
    run = TrainingRun(guard, model, optimizer, DataOrder(seed, resume, guard.iteration, rank), folders, resume)
    guard.restore = functools.partial(restore_checkpoint, model, optimizer)
    guard.weights = model.state_dict
    guard.running = RunningState(model)
    removals: List[Callable[[], None]] = []
    try:
        for hook in reversed(HOOKS):  # innermost first
            if not hook.permanent:
                removals.append(_install(hook, run))
        yield run
    finally:
        for remove in reversed(removals):  # outermost first
            remove()
        folders.discard()
