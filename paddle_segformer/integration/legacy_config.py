"""How PaddleSeg 2.4-2.7 read the parts of a config that PaddleSeg 2.8 refuses or reads differently.

Pure dict work, no paddle. :mod:`paddle_segformer.integration.compat` runs :func:`upgrade` on every config that
PaddleSeg's ``Config`` parses and :func:`fill_poly_defaults` when ``SegBuilder`` builds the scheduler:

- the top-level ``learning_rate: {value, decay: {type: poly|piecewise|stepdecay, ...}}`` block (or a
  bare number) becomes the ``lr_scheduler`` PaddleSeg 2.4 built from it (2.8 stops: no lr_scheduler);
- ``PolynomialDecay`` without ``end_lr`` / ``power`` gets 2.4-2.7's ``end_lr: 0``, ``power: 0.9``
  (2.8 leaves Paddle's ``end_lr=1e-4``, so a 6e-5 rate climbs instead of decaying);
- ``optimizer: {type: sgd}`` without ``momentum`` gets 2.4-2.7's momentum 0.9 (2.8 runs plain SGD);
- ``optimizer.backbone_lr_mult`` (2.5-2.7) becomes 2.8's ``custom_cfg`` group for ``backbone``;
  an integer ``weight_decay`` (accepted before, an assertion in 2.8) becomes a float;
- a generic ``Dataset`` block without ``num_classes`` takes the one given elsewhere (2.7 synced it).
"""
from __future__ import annotations

from typing import Any, Dict, List

# PaddleSeg 2.4-2.7 Config.lr_scheduler: params.setdefault('end_lr', 0); params.setdefault('power', 0.9)
POLY_DEFAULTS: Dict[str, float] = {"end_lr": 0.0, "power": 0.9}
SGD_MOMENTUM = 0.9  # 2.4-2.7 optimizer_config: args.setdefault('momentum', 0.9) for type sgd


def legacy_scheduler(block: Any) -> Dict[str, Any]:
    """The ``lr_scheduler`` equivalent of a 2.4-era top-level ``learning_rate`` block.

    ``decay_steps`` is left out on purpose: the builder sets it from the final ``iters`` (after
    ``--iters``), as 2.4 did when it built the optimizer.
    """
    if isinstance(block, (int, float)) and not isinstance(block, bool):
        # 2.4 handed the number to the optimizer: a constant rate (lr / (1 + 0 * t)).
        return {"type": "InverseTimeDecay", "learning_rate": float(block), "gamma": 0.0}
    if not isinstance(block, dict) or block.get("value") is None:
        raise ValueError(f"learning_rate must be a number or {{value: ..., decay: {{...}}}} (the PaddleSeg 2.4 "
                         f"form), got {block!r}")
    decay = dict(block["decay"]) if block.get("decay") is not None else {"type": "poly", "power": 0.9}
    kind = decay.pop("type", None)
    if kind == "poly":
        decay.setdefault("end_lr", 0.0)
        decay.setdefault("power", 1.0)  # a decay block without power got Paddle's default (1.0) in 2.4
        return {"type": "PolynomialDecay", "learning_rate": block["value"], **decay}
    if kind == "piecewise":
        return {"type": "PiecewiseDecay", "values": block["value"], **decay}
    if kind == "stepdecay":
        return {"type": "StepDecay", "learning_rate": block["value"], **decay}
    raise ValueError(f"learning_rate.decay.type {kind!r}: PaddleSeg 2.4 knew poly, piecewise and stepdecay")


def _learning_rate_block(dic: Dict[str, Any]) -> List[str]:
    if "learning_rate" not in dic:
        return []
    block = dic.pop("learning_rate")
    if "lr_scheduler" in dic:
        return ["top-level learning_rate ignored because lr_scheduler is set (as in 2.4)"]
    dic["lr_scheduler"] = legacy_scheduler(block)
    return [f"top-level learning_rate {block} -> lr_scheduler {dic['lr_scheduler']}"]


def _optimizer(dic: Dict[str, Any]) -> List[str]:
    opt = dic.get("optimizer")
    if not isinstance(opt, dict):
        return []
    notes = []
    if opt.get("type") == "sgd" and "momentum" not in opt:
        opt["momentum"] = SGD_MOMENTUM
        notes.append(f"optimizer type sgd -> momentum {SGD_MOMENTUM}")
    if "backbone_lr_mult" in opt:
        mult = opt.pop("backbone_lr_mult")
        opt["custom_cfg"] = [{"name": "backbone", "lr_mult": mult}] + list(opt.get("custom_cfg") or [])
        notes.append(f"optimizer.backbone_lr_mult {mult} -> custom_cfg [{{name: backbone, lr_mult: {mult}}}]")
    if isinstance(opt.get("weight_decay"), int) and not isinstance(opt["weight_decay"], bool):
        opt["weight_decay"] = float(opt["weight_decay"])
        notes.append(f"optimizer.weight_decay -> {opt['weight_decay']}")
    return notes


def _dataset_num_classes(dic: Dict[str, Any]) -> List[str]:
    blocks = [dic.get(k) for k in ("train_dataset", "val_dataset")]
    blocks = [b for b in blocks if isinstance(b, dict) and b.get("type") == "Dataset"]
    model = dic.get("model") if isinstance(dic.get("model"), dict) else {}
    known = {b["num_classes"] for b in blocks if "num_classes" in b}
    known |= {model["num_classes"]} if "num_classes" in model else set()
    if len(known) != 1:  # none known, or a conflict PaddleSeg's checker will report
        return []
    value = known.pop()
    filled = [b for b in blocks if "num_classes" not in b]
    for block in filled:
        block["num_classes"] = value
    return [f"Dataset num_classes {value} filled in {len(filled)} block(s)"] if filled else []


def upgrade(dic: Dict[str, Any]) -> List[str]:
    """Rewrite the 2.4-2.7 forms in a parsed config ``dic`` in place; one note per change made.

    Raises ValueError for a ``learning_rate`` block 2.4 could not read either.
    """
    if not isinstance(dic, dict):
        return []
    return _learning_rate_block(dic) + _optimizer(dic) + _dataset_num_classes(dic)


def fill_poly_defaults(lr_cfg: Any) -> Dict[str, float]:
    """Give a ``PolynomialDecay`` block the 2.4-2.7 defaults it lacks (in place); returns what was filled."""
    if not isinstance(lr_cfg, dict) or lr_cfg.get("type") != "PolynomialDecay":
        return {}
    filled = {k: v for k, v in POLY_DEFAULTS.items() if k not in lr_cfg}
    lr_cfg.update(filled)
    return filled
