"""The checkpoint families as tables of :class:`Rule` (see :mod:`.rules` for the template syntax)."""
from __future__ import annotations

from typing import Dict, List, Tuple

from .rules import Format, Rule

_BLOCK = "backbone.block{stage}.{block}."
_COUNTERS = r"num_batches_tracked$"


def _same(template: str, kind: str = "copy") -> Rule:
    return Rule(template, template, kind)


# Our own keys (== PaddleSeg's). Used as is by the "paddleseg" format and as the target of the others.
OUR_RULES: Tuple[Rule, ...] = (
    _same("backbone.patch_embed{stage}.proj.{p}"),
    _same("backbone.patch_embed{stage}.norm.{p}"),
    _same(_BLOCK + "norm1.{p}"),
    _same(_BLOCK + "attn.q.{p}", "linear"),
    _same(_BLOCK + "attn.kv.{p}", "linear"),
    _same(_BLOCK + "attn.proj.{p}", "linear"),
    _same(_BLOCK + "attn.sr.{p}"),
    _same(_BLOCK + "attn.norm.{p}"),
    _same(_BLOCK + "norm2.{p}"),
    _same(_BLOCK + "mlp.fc1.{p}", "linear"),
    _same(_BLOCK + "mlp.dwconv.dwconv.{p}"),
    _same(_BLOCK + "mlp.fc2.{p}", "linear"),
    _same("backbone.norm{stage}.{p}"),
    _same("linear_c{stage}.proj.{p}", "linear"),
    _same("linear_fuse._conv.weight"),
    _same("linear_fuse._batch_norm.{p}"),
    _same("linear_fuse._batch_norm._mean"),
    _same("linear_fuse._batch_norm._variance"),
    _same("linear_pred.{p}"),
)

PADDLESEG = Format("paddleseg", tuple(Rule(r.src, r.dst) for r in OUR_RULES),  # Paddle layout already
                   ignore=(r"^head\.(weight|bias)$",), signature=r"^linear_fuse\._conv\.weight$")

# NVlabs/SegFormer (mmsegmentation) segformer.b*.pth and the ImageNet mit_b*.pth backbones.
NVLABS = Format(
    "nvlabs",
    tuple(r for r in OUR_RULES if not r.dst.startswith(("linear_c", "linear_fuse", "linear_pred"))) + (
        Rule("decode_head.linear_c{stage}.proj.{p}", "linear_c{stage}.proj.{p}", "linear"),
        Rule("decode_head.linear_fuse.conv.weight", "linear_fuse._conv.weight"),
        Rule("decode_head.linear_fuse.bn.{p}", "linear_fuse._batch_norm.{p}"),
        Rule("decode_head.linear_fuse.bn.running_mean", "linear_fuse._batch_norm._mean"),
        Rule("decode_head.linear_fuse.bn.running_var", "linear_fuse._batch_norm._variance"),
        Rule("decode_head.linear_pred.{p}", "linear_pred.{p}"),
    ),
    ignore=(_COUNTERS, r"^decode_head\.conv_seg\.", r"^head\.(weight|bias)$"),
    signature=r"^decode_head\.linear_fuse\.conv\.weight$",
)


def _hf(embed: str, block: str, stage_norm: str, names: Dict[str, str], projections: str,
        signature: str) -> Format:
    """A Hugging Face naming: templates of a stage's patch embedding, a block and the stage norm."""
    rules = [
        Rule(f"{embed}.proj.{{p}}", "backbone.patch_embed{stage}.proj.{p}"),
        Rule(f"{embed}.layer_norm.{{p}}", "backbone.patch_embed{stage}.norm.{p}"),
        Rule(f"{stage_norm}.{{p}}", "backbone.norm{stage}.{p}"),
    ]
    ours = {"norm1": "copy", "attn.q": "linear", "attn.kv/k": "kv0", "attn.kv/v": "kv1", "attn.sr": "copy",
            "attn.norm": "copy", "attn.proj": "linear", "norm2": "copy", "mlp.fc1": "linear",
            "mlp.dwconv.dwconv": "copy", "mlp.fc2": "linear"}
    for our_name, kind in ours.items():
        rules.append(Rule(f"{block}.{names[our_name]}.{{p}}", _BLOCK + our_name.split("/")[0] + ".{p}", kind))
    rules += [
        Rule(f"decode_head.{projections}.{{stage}}.proj.{{p}}", "linear_c{stage}.proj.{p}", "linear"),
        Rule("decode_head.linear_fuse.weight", "linear_fuse._conv.weight"),
        Rule("decode_head.batch_norm.{p}", "linear_fuse._batch_norm.{p}"),
        Rule("decode_head.batch_norm.running_mean", "linear_fuse._batch_norm._mean"),
        Rule("decode_head.batch_norm.running_var", "linear_fuse._batch_norm._variance"),
        Rule("decode_head.classifier.{p}", "linear_pred.{p}"),
    ]
    return Format("hf", tuple(rules), stage_base=0, ignore=(_COUNTERS, r"^classifier\.(weight|bias)$"),
                  signature=signature)


# Hugging Face transformers: the on-disk (hub) naming, which save_pretrained still writes ...
HF = _hf("segformer.encoder.patch_embeddings.{stage}", "segformer.encoder.block.{stage}.{block}",
         "segformer.encoder.layer_norm.{stage}",
         {"norm1": "layer_norm_1", "attn.q": "attention.self.query", "attn.kv/k": "attention.self.key",
          "attn.kv/v": "attention.self.value", "attn.sr": "attention.self.sr",
          "attn.norm": "attention.self.layer_norm", "attn.proj": "attention.output.dense", "norm2": "layer_norm_2",
          "mlp.fc1": "mlp.dense1", "mlp.dwconv.dwconv": "mlp.dwconv.dwconv", "mlp.fc2": "mlp.dense2"},
         "linear_c", signature=r"^segformer\.encoder\.")
# ... and the in-memory module naming of transformers 5 (a torch.save of model.state_dict()).
HF_MODULES = _hf("segformer.stages.{stage}.patch_embeddings", "segformer.stages.{stage}.blocks.{block}",
                 "segformer.stages.{stage}.layer_norm",
                 {"norm1": "layernorm_before", "attn.q": "attention.q_proj", "attn.kv/k": "attention.k_proj",
                  "attn.kv/v": "attention.v_proj", "attn.sr": "attention.sequence_reduction.sequence_reduction",
                  "attn.norm": "attention.sequence_reduction.layer_norm", "attn.proj": "attention.o_proj",
                  "norm2": "layernorm_after", "mlp.fc1": "mlp.fc1", "mlp.dwconv.dwconv": "mlp.dwconv.dwconv",
                  "mlp.fc2": "mlp.fc2"},
                 "linear_projections", signature=r"^segformer\.stages\.")

FORMATS: Dict[str, List[Format]] = {"hf": [HF, HF_MODULES], "nvlabs": [NVLABS], "paddleseg": [PADDLESEG]}
ALL: List[Format] = [HF, HF_MODULES, PADDLESEG, NVLABS]
