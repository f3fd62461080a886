"""``python train.py --config CFG ...``: training through ``paddleseg.core.train``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..inference.options import InferenceOptions
from ..integration.config import build, load_config
from .legacy_flags import add_data_format_arg, check_data_format, repeat_dataset
from .runtime import logger, resolve_precision, run_cli, select_device

if TYPE_CHECKING:
    import paddle

    from ..engine.divergence import DivergenceOptions


def check_resume(model: "paddle.nn.Layer", resume_model: str) -> None:
    """Fail early, naming the file, if a resume folder is incomplete or does not fit the model."""
    from ..engine.divergence import CHECKPOINT_FILES, iteration_of, newest_complete_checkpoint
    from ..integration.config_facts import naming_the_fitting_config
    from ..weights.checkpoint import read_state_dict
    from ..weights.load_report import compare_state_dicts
    from ..weights.loading import does_not_fit
    from ..weights.reader import CheckpointError

    for name in CHECKPOINT_FILES:
        if not os.path.isfile(os.path.join(resume_model, name)):
            newest = newest_complete_checkpoint(os.path.dirname(os.path.normpath(resume_model)) or ".")
            raise CheckpointError(f"cannot resume: {os.path.join(resume_model, name)} not found" + (
                f"; the newest complete checkpoint beside it is {newest}" if newest else ""))
    weights = os.path.join(resume_model, "model.pdparams")
    state = read_state_dict(weights)
    report = compare_state_dicts(model.state_dict(), state, source=weights)
    if not report.ok or report.unexpected:
        raise naming_the_fitting_config(does_not_fit(model.state_dict(), state, report,
                                                     "cannot resume: the checkpoint does not match the model", ""))
    try:
        iteration_of(resume_model)
    except ValueError as exc:
        raise CheckpointError(f"cannot resume: folder name must end in _<iteration>, got {resume_model}") from exc


def _model_with_pretrained(builder: Any, config: str) -> Any:
    """The config's model; ``pretrained:`` weights that do not fit it are refused naming the configs they fit."""
    from ..integration.config_facts import naming_the_fitting_config
    from ..weights.reader import CheckpointError

    try:
        return build(builder, "model", config)
    except CheckpointError as exc:
        raise naming_the_fitting_config(exc) from None


def _training_config(config: str, learning_rate: Optional[float], batch_size: Optional[int],
                     iters: Optional[int], opts: Optional[List[str]], pretrained: Optional[str],
                     resume_model: Optional[str]) -> Tuple[Any, Any]:
    """``load_config`` for training. ``pretrained`` (``--pretrained``) replaces the config's weights: as
    ``model.pretrained`` for a whole-model checkpoint (the backbone's then not read: they replace it), else as
    ``model.backbone.pretrained``. Nothing is read for ``none`` (from scratch) or when a checkpoint is resumed
    (it replaces every weight)."""
    from ..weights.loading import pretrained_target
    from ..weights.pretrained_cache import no_weights

    read = not resume_model and not (pretrained is not None and no_weights(pretrained))
    target = pretrained_target(pretrained) if read and pretrained else None
    if target:
        opts = list(opts or []) + [f"{'model' if target == 'model' else 'model.backbone'}.pretrained={pretrained}"]
    cfg, builder = load_config(config, learning_rate, batch_size, iters, opts, pretrained=read)
    backbone = cfg.dic["model"].get("backbone") if isinstance(cfg.dic.get("model"), dict) else None
    if target == "model" and isinstance(backbone, dict):
        backbone["pretrained"] = None
    return cfg, builder


RUN_RECORD = "pretrained.json"  # in save_dir: where the encoder's weights came from


def encoder_origin(model: Any, resume_model: Optional[str] = None) -> Dict[str, Any]:
    """Where the encoder's weights came from, as a record whose ``line`` says it in one line: a whole-model or
    backbone checkpoint (source, file, sha256, what was adapted), a resumed checkpoint, or none (from scratch)."""
    if resume_model:
        return {"encoder": "resumed", "source": resume_model,
                "line": f"encoder weights: from the resumed checkpoint {resume_model}"}
    for what, layer in (("model", model), ("backbone", getattr(model, "backbone", None))):
        report = getattr(layer, "pretrained_report", None)
        if report is None:
            continue
        record = dict(report.provenance(), encoder=f"{what} checkpoint")
        where = report.origin.describe() if report.origin else record["source"]
        changes = [f"{kind}: {', '.join(record[kind])}" for kind in ("adapted", "reinitialised") if record[kind]]
        record["line"] = f"encoder weights: {what} checkpoint {where}" + "".join(f"; {c}" for c in changes)
        return record
    return {"encoder": "scratch", "source": None,
            "line": "encoder weights: none, randomly initialised (training from scratch)"}


def _record_encoder_origin(model: Any, save_dir: str, resume_model: Optional[str]) -> None:
    """Log where the encoder came from and write it to ``save_dir/pretrained.json`` (atomically, by rank 0; a
    resumed run keeps the record of the run it continues)."""
    import paddle

    from ..io.atomic import atomic_write_bytes

    record = encoder_origin(model, resume_model)
    logger.info(record["line"])
    path = os.path.join(save_dir, RUN_RECORD)
    if paddle.distributed.get_rank() == 0 and not (resume_model and os.path.exists(path)):
        atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def _datasets(builder: Any, config: str, do_eval: bool, repeats: int) -> Tuple[Any, Any]:
    """(train dataset repeated ``repeats`` times, val dataset or None); --do_eval needs a non-empty one."""
    train_dataset = repeat_dataset(build(builder, "train_dataset", config), repeats)
    val_dataset = build(builder, "val_dataset", config) if do_eval else None
    if do_eval and (val_dataset is None or len(val_dataset) == 0):
        raise ValueError(f"{config}: --do_eval needs a non-empty val_dataset")
    return train_dataset, val_dataset


def _eval_options(model: Any, val_dataset: Any, config_test: Optional[dict]) -> dict:
    """evaluate()'s keys of test_config (not tiling), with PaddleSeg's sliding window switched on when a
    validation image would not fit the memory budget in one pass (paddle_segformer.inference.memory)."""
    from ..inference.evaluate import slide_when_too_large
    from ..inference.memory import DYNAMIC, MemoryBudget, MemoryGuard, ModelShape

    options = InferenceOptions.from_config(config_test).as_dict()
    if val_dataset is None:
        return options
    guard = MemoryGuard(ModelShape.of_model(model), MemoryBudget.create(), DYNAMIC)
    return slide_when_too_large(val_dataset, guard, options)


def _mixed_precision(model: "paddle.nn.Layer", precision: str, amp_level: str) -> Tuple[str, str]:
    """(precision, amp_level) for PaddleSeg's loop. bf16 becomes the model's own O1 autocast (the loop knows
    only fp16; bf16 needs no loss scaling). The float32 islands (paddle_segformer.models.amp_policy) are logged."""
    from ..models.amp_policy import describe

    if precision == "bf16":
        if amp_level != "O1":
            logger.warning("--precision bf16 runs the forward at AMP level O1 (--amp_level %s ignored)", amp_level)
        model.amp_dtype, precision, amp_level = "bfloat16", "fp32", "O1"
    if precision == "fp16" or model.amp_dtype:
        logger.info(describe(amp_level))
    return precision, amp_level


def train(config: str, save_dir: str = "output", iters: Optional[int] = None, batch_size: Optional[int] = None,
          learning_rate: Optional[float] = None, precision: str = "fp32", fp16: bool = False,
          amp_level: str = "O1", do_eval: bool = False, use_vdl: bool = False, resume_model: Optional[str] = None,
          save_interval: int = 1000, log_iters: int = 10, keep_checkpoint_max: int = 5, num_workers: int = 0,
          seed: Optional[int] = None, opts: Optional[List[str]] = None, device: Optional[str] = None,
          pretrained: Optional[str] = None, repeats: int = 1, profiler_options: Optional[str] = None,
          data_format: str = "NCHW", skip_data_check: bool = False,
          divergence: Optional["DivergenceOptions"] = None) -> "paddle.nn.Layer":
    """Train the model a config describes; checkpoints go to ``save_dir/iter_N``. Returns the model.

    ``pretrained``: a file or URL in any format (paddle_segformer.weights), whole model or backbone, instead of
    the config's (``none``: from scratch); where the encoder came from is logged and written to
    ``save_dir/pretrained.json``. ``repeats``,
    ``profiler_options``, ``data_format``: PaddleSeg's flags. Missing data stops the run before the
    model is built; every train / val pair is checked when the datasets are built, before training
    (``skip_data_check`` turns that off); the effective learning-rate schedule is logged before training;
    ``save_dir`` must be a folder that can be written with room for the checkpoints, and the train list must
    give every process one batch, both checked before training.
    ``divergence``: the NaN / Inf guard's options (paddle_segformer.engine.divergence); raises TrainingDiverged
    when it stops.
    """
    import paddle
    from paddleseg import core
    from paddleseg.utils import set_seed

    from ..engine.divergence import DivergenceGuard, DivergenceOptions
    from ..engine.hooks import training_hooks
    from ..engine.preflight import check_one_batch, checkpoint_bytes, kept_checkpoints
    from ..engine.schedule import log_schedule
    from ..io.paths import check_output_dir
    from .data_paths import check_dataset_paths
    from .data_paths import skip_data_check as skip_check

    check_data_format(data_format)
    check_output_dir(save_dir)  # before anything is built: PaddleSeg's loop would delete a file of that name
    device = select_device(device)
    precision = resolve_precision(precision, fp16, device)
    if seed is not None:
        set_seed(seed)
    with paddle.utils.unique_name.guard():  # names as in a fresh process: resume needs them
        cfg, builder = _training_config(config, learning_rate, batch_size, iters, opts, pretrained, resume_model)
        check_dataset_paths(cfg.dic, config, ["train_dataset"] + (["val_dataset"] if do_eval else []))
        if skip_data_check:
            skip_check(cfg.dic, ["train_dataset", "val_dataset"])
        model = _model_with_pretrained(builder, config)
        optimizer = build(builder, "optimizer", config)
        log_schedule(builder.lr_scheduler, cfg.iters)
        precision, amp_level = _mixed_precision(model, precision, amp_level)
        if resume_model:
            check_resume(model, resume_model)
        train_dataset, val_dataset = _datasets(builder, config, do_eval, repeats)
        losses = build(builder, "loss", config)
        nranks = paddle.distributed.ParallelEnv().nranks
        check_one_batch(len(train_dataset), cfg.batch_size, nranks, config)
        check_output_dir(save_dir, checkpoint_bytes(model) * kept_checkpoints(
            cfg.iters, save_interval, keep_checkpoint_max, do_eval))
        _record_encoder_origin(model, save_dir, resume_model)
        logger.info("training %s (%s) on %s x%d, precision %s, %d iters, batch %d per process -> %s",
                    type(model).__name__, config, device, nranks, model.amp_dtype or precision, cfg.iters,
                    cfg.batch_size, save_dir)
        guard = DivergenceGuard(divergence or DivergenceOptions(), resume_model, save_dir, save_interval, cfg.iters)
        with training_hooks(guard, model, optimizer, resume_model, seed):
            core.train(model, train_dataset, val_dataset=val_dataset, optimizer=optimizer, save_dir=save_dir,
                       iters=cfg.iters, batch_size=cfg.batch_size, resume_model=resume_model,
                       save_interval=save_interval, log_iters=log_iters, num_workers=num_workers, use_vdl=use_vdl,
                       losses=losses, keep_checkpoint_max=keep_checkpoint_max,
                       test_config=_eval_options(model, val_dataset, cfg.test_config),
                       precision=precision, amp_level=amp_level, profiler_options=profiler_options)
    return model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train SegFormer with PaddleSeg's training loop.")
    p.add_argument("--config", required=True, help="YAML config (PaddleSeg format, _base_ inheritance)")
    p.add_argument("--save_dir", default="output", help="where iter_N/ checkpoints and VisualDL logs go")
    p.add_argument("--iters", type=int, help="total iterations (overrides the config)")
    p.add_argument("--batch_size", type=int, help="batch size per process (overrides the config)")
    p.add_argument("--learning_rate", type=float, help="base learning rate (overrides the config)")
    p.add_argument("--fp16", action="store_true", help="mixed precision fp16 (GPU; fp32 on CPU with a warning)")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    p.add_argument("--amp_level", choices=("O1", "O2"), default="O1")
    p.add_argument("--do_eval", action="store_true", help="evaluate on val_dataset at every save")
    p.add_argument("--use_vdl", action="store_true", help="write VisualDL logs into save_dir")
    p.add_argument("--resume_model", help="an iter_N folder to continue from")
    p.add_argument("--pretrained", metavar="FILE|URL|none",
                   help="weights to start from instead of the config's model.backbone.pretrained: .pdparams, "
                        "PaddleSeg .tar.gz, NVlabs .pth, Hugging Face folder/file, a URL of one (downloaded once "
                        "into the cache), or none (from scratch)")
    p.add_argument("--save_interval", type=int, default=1000)
    p.add_argument("--log_iters", type=int, default=10)
    p.add_argument("--keep_checkpoint_max", type=int, default=5)
    p.add_argument("--num_workers", type=int, default=0)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, gpu, gpu:N, xpu, npu, mlu (default: gpu when available; "
                                    "one this Paddle cannot use falls back to cpu with a warning)")
    p.add_argument("--opts", nargs="+", help="config overrides, e.g. --opts train_dataset.dataset_root=data")
    p.add_argument("--repeats", type=int, default=1, help="repeat the training samples this many times per epoch")
    p.add_argument("--profiler_options", help="PaddleSeg's train profiler options (paddleseg/utils/train_profiler.py)")
    p.add_argument("--skip_data_check", action="store_true",
                   help="do not check every image / label pair before training (they are still checked "
                        "one by one as they are loaded)")
    p.add_argument("--nan_patience", type=int, default=3,
                   help="stop after this many consecutive iterations with a non-finite loss or gradient norm "
                        "(their updates are skipped; then exit status 4, or see --nan_policy)")
    p.add_argument("--nan_policy", choices=("stop", "rollback"), default="stop",
                   help="after --nan_patience bad iterations: stop, or reload the last good checkpoint and go on "
                        "(loss scale halved under AMP; at most 3 times, then stop)")
    add_data_format_arg(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    from ..engine.divergence import DivergenceOptions

    args = vars(build_parser().parse_args(argv))
    divergence = DivergenceOptions(patience=args.pop("nan_patience"), policy=args.pop("nan_policy"))
    train(divergence=divergence, **args)
    return 0


if __name__ == "__main__":  # python -m paddle_segformer.cli.train, as the root script
    sys.exit(run_cli(main))
