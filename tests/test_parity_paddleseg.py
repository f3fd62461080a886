"""Fidelity: same keys, shapes, parameter counts and logits as PaddleSeg's built-in SegFormer."""
import numpy as np
import paddle
import pytest
from paddleseg.models import SegFormer as PaddleSegSegFormer
from paddleseg.models.backbones import mix_transformer as paddleseg_mit

from paddle_segformer.models.backbone import mit
from paddle_segformer.models.segformer import SegFormer
from paddle_segformer.variants import MIT_VARIANTS
from paddle_segformer.weights.load_report import compare_state_dicts
from paddle_segformer.weights.loading import load_state_dict_strict

SLOW = {"b4", "b5"}


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in MIT_VARIANTS])
def test_parity_with_paddleseg(key):
    spec = MIT_VARIANTS[key]
    paddle.seed(1)
    theirs = PaddleSegSegFormer(7, getattr(paddleseg_mit, f"MixVisionTransformer_B{key[1]}")(), spec.decoder_dim)
    ours = SegFormer(7, mit(key))
    their_sd, our_sd = theirs.state_dict(), ours.state_dict()
    report = compare_state_dicts(our_sd, their_sd)
    assert report.ok and not report.unexpected, report.summary()
    assert list(our_sd) == list(their_sd)  # same order too
    assert sum(p.size for p in ours.parameters()) == sum(p.size for p in theirs.parameters())

    x = paddle.randn([1, 3, 67, 93])
    # theirs -> ours
    load_state_dict_strict(ours, their_sd, source="paddleseg", allow_new_classes=False)
    ours.eval(), theirs.eval()
    diff = np.abs(ours(x)[0].numpy() - theirs(x)[0].numpy()).max()
    assert diff <= 1e-5, diff
    # ours -> theirs (fresh weights on our side first)
    paddle.seed(2)
    ours2 = SegFormer(7, mit(key))
    ours2.eval()
    load_state_dict_strict(theirs, ours2.state_dict(), source="ours", allow_new_classes=False)
    diff2 = np.abs(ours2(x)[0].numpy() - theirs(x)[0].numpy()).max()
    assert diff2 <= 1e-5, diff2
