"""Every preset builds, runs forward and backward, and exposes the timm-style interface."""

from __future__ import annotations

import pytest
import torch

from deepmad.models import build_model, create_model
from deepmad.spec import get_preset, list_presets


@pytest.mark.parametrize("name", list_presets())
def test_forward_backward_every_preset(name: str) -> None:
    torch.manual_seed(0)
    # batch 4: BN inside SE sees 1x1 maps, so a batch of 2 is degenerate in train mode
    model = create_model(name, num_classes=7, resolution=32, zero_init_last_bn=False)
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    assert out.shape == (4, 7)
    assert torch.isfinite(out).all()
    out.logsumexp(1).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


def test_timm_style_interface() -> None:
    model = create_model("deepmad_29m_224", num_classes=10, resolution=64).eval()
    x = torch.randn(2, 3, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (2, model.num_features, 2, 2)
    assert model.num_features == 1792
    assert model.forward_head(feats, pre_logits=True).shape == (2, 1792)
    assert torch.allclose(model.forward_head(feats), model(x))
    assert [f["num_chs"] for f in model.feature_info] == [40, 40, 85, 134, 201, 312]
    assert [f["reduction"] for f in model.feature_info] == [2, 2, 4, 8, 16, 32]
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    assert model.spec.head.num_classes == 3
    model.reset_classifier(0)
    assert model(x).shape == (2, 1792)


def test_zero_init_last_bn_makes_residual_blocks_identity_like() -> None:
    spec = get_preset("resnet18").replace(resolution=32)
    model = build_model(spec, zero_init_last_bn=True)
    last_bns = [blk.body[-1].bn.weight for stage in model.stages for blk in stage]
    assert all(torch.count_nonzero(w) == 0 for w in last_bns)


def test_overrides() -> None:
    model = build_model(get_preset("resnet18"), num_classes=5, drop_rate=0.2, resolution=64)
    assert model.spec.resolution == 64 and model.spec.head.dropout == 0.2
    assert model.fc.out_features == 5


def test_builder_module_does_not_import_cost_or_scores() -> None:
    import deepmad.models.blocks as blocks
    import deepmad.models.network as network

    for mod in (blocks, network):
        imports = [ln for ln in open(mod.__file__) if ln.startswith(("import ", "from "))]
        assert not [ln for ln in imports if "deepmad.cost" in ln or "deepmad.scores" in ln]
