"""IResNet-18..200 as insightface's arcface_torch defines them (recognition/arcface_torch/backbones/iresnet.py): the
state-dict keys and shapes its published backbone.pth files hold, the tensor and parameter counts, and a forward
that computes what the project's own IR definition (models/iresnet.py) computes with the same weights.

The expected numbers were worked out by hand from the public code, not read off this model:
- tensors: stem conv1 + bn1 (5: weight, bias, running_mean, running_var, num_batches_tracked) + prelu = 7; each
  IBasicBlock 3 BN + 2 conv + prelu = 18; one downsample (conv + BN = 6) per stage = 24; head bn2 + fc (2) +
  features = 12; so 43 + 18 x blocks (without the num_batches_tracked counters: 36 + 15 x blocks);
- parameters: the conv, BN, PReLU and FC sizes summed per block (iresnet50: 1,920 stem + 226,752 + 1,117,824 +
  16,278,272 + 13,118,464 stages + 12,847,616 head = 43,590,848, insightface's quoted 43.6M).
The big depths are built on PyTorch's meta device: shapes and counts without allocating (or initialising) weights.
"""
from __future__ import annotations

import pytest
import torch
from facebench import models
from facebench.models.arcface_iresnet import IBasicBlock
from facebench.models.checkpoint import load_model, save_model
from torch import nn

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# name -> (blocks per stage, state-dict tensors, without num_batches_tracked, parameters) at 512-d, 112 x 112
PUBLISHED = {
    "iresnet18": ((2, 2, 2, 2), 187, 156, 24_025_600),
    "iresnet34": ((3, 4, 6, 3), 331, 276, 34_139_328),
    "iresnet50": ((3, 4, 14, 3), 475, 396, 43_590_848),
    "iresnet100": ((3, 13, 30, 3), 925, 771, 65_156_160),
    "iresnet200": ((6, 26, 60, 6), 1807, 1506, 118_833_920),
}

# characteristic tensors of arcface_torch's r50 backbone.pth (e.g. ms1mv3_arcface_r50_fp16)
R50_KEYS = {
    "conv1.weight": (64, 3, 3, 3),
    "bn1.running_mean": (64,),
    "prelu.weight": (64,),
    "layer1.0.bn1.weight": (64,),
    "layer1.0.conv1.weight": (64, 64, 3, 3),
    "layer1.0.prelu.weight": (64,),
    "layer1.0.conv2.weight": (64, 64, 3, 3),
    "layer1.0.bn3.bias": (64,),
    "layer1.0.downsample.0.weight": (64, 64, 1, 1),  # layer1 halves the map too, so it has a downsample
    "layer1.0.downsample.1.running_var": (64,),
    "layer2.0.conv1.weight": (128, 64, 3, 3),
    "layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "layer3.13.conv2.weight": (256, 256, 3, 3),
    "layer4.0.bn1.weight": (256,),
    "layer4.2.bn3.weight": (512,),
    "bn2.weight": (512,),
    "fc.weight": (512, 512 * 7 * 7),
    "fc.bias": (512,),
    "features.weight": (512,),
    "features.running_var": (512,),
}


def meta(name, **kwargs):
    with torch.device("meta"):
        return models.build(name, **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_state_dict_is_the_published_layout(name):
    units, tensors, without_counters, params = PUBLISHED[name]
    model = meta(name)
    state = model.state_dict()
    assert len(state) == tensors
    assert sum(not k.endswith("num_batches_tracked") for k in state) == without_counters
    assert n_params(model) == params
    assert model.embedding_size == 512 and model.input_size == (112, 112)
    for i, n in enumerate(units, start=1):  # blocks per stage: the last block is there, one more is not
        assert f"layer{i}.{n - 1}.bn3.weight" in state and f"layer{i}.{n}.bn1.weight" not in state
        assert f"layer{i}.0.downsample.0.weight" in state and f"layer{i}.1.downsample.0.weight" not in state
    assert list(state)[:7] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                               "bn1.num_batches_tracked", "prelu.weight"]
    assert list(state)[-7:] == ["fc.weight", "fc.bias", "features.weight", "features.bias", "features.running_mean",
                                "features.running_var", "features.num_batches_tracked"]
    prefixes = {k.split(".")[0] for k in state}
    assert prefixes == {"conv1", "bn1", "prelu", "layer1", "layer2", "layer3", "layer4", "bn2", "fc", "features"}


def test_iresnet50_characteristic_tensors():
    state = meta("iresnet50").state_dict()
    for key, shape in R50_KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert "layer3.14.bn1.weight" not in state
    block = meta("iresnet50").layer2[0]
    assert [n for n, _ in block.named_children()] == ["bn1", "conv1", "bn2", "prelu", "conv2", "bn3", "downsample"]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)  # the stride sits on the second conv


def test_iresnet100_characteristic_tensors():
    state = meta("iresnet100").state_dict()
    assert tuple(state["layer2.12.conv1.weight"].shape) == (128, 128, 3, 3)
    assert tuple(state["layer3.29.prelu.weight"].shape) == (256,)
    assert "layer3.30.bn1.weight" not in state
    assert tuple(state["fc.weight"].shape) == (512, 25088)


def test_authors_details_eps_init_and_fixed_feature_scale():
    torch.manual_seed(0)
    model = models.build("iresnet18")
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert all(m.eps == 1e-5 for m in bns)
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    std = torch.cat([w.flatten() for w in convs]).std().item()
    assert 0.095 < std < 0.105  # arcface_torch draws every conv from N(0, 0.1)
    assert not model.features.weight.requires_grad and torch.equal(model.features.weight, torch.ones(512))
    assert sum(isinstance(m, IBasicBlock) for m in model.modules()) == 8


def test_forward_equals_the_projects_own_ir_with_the_same_weights():
    """models/iresnet.py's ``iresnet`` at depth 18 is the same network under other module names: copying its weights
    across by position must give the same embedding (block order, stride placement, head order)."""
    torch.manual_seed(0)
    ours = models.build("iresnet", depth=18, embedding_size=16, input_size=(32, 32)).eval()
    theirs = models.build("iresnet18", embedding_size=16, input_size=(32, 32)).eval()
    src, dst = ours.state_dict(), theirs.state_dict()
    assert len(src) == len(dst) and all(a.shape == b.shape for a, b in zip(src.values(), dst.values()))
    theirs.load_state_dict(dict(zip(dst, src.values())))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)


def test_saved_and_loaded_back_gives_the_same_embedding(tmp_path):
    torch.manual_seed(0)
    model = models.build("iresnet18").eval()
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        before = model(x)
    assert before.shape == (2, 512) and torch.isfinite(before).all()
    save_model(tmp_path / "m.pt", model, backbone="iresnet18", backbone_args={"embedding_size": 512},
               input_spec={"template": "arcface112"})
    back, _ = load_model(tmp_path / "m.pt")
    assert not back.features.weight.requires_grad
    with torch.no_grad():
        assert torch.equal(back(x), before)


def test_iresnet100_runs_a_batch_of_two():
    """In train mode: untrained, with arcface_torch's N(0, 0.1) convs and BN running statistics still at 0 / 1, the
    eval-mode activations grow ~10x per block and overflow by depth 100 (the module's doc says so)."""
    torch.manual_seed(0)
    model = models.build("iresnet100").train()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 112, 112))
    assert out.shape == (2, 512) and torch.isfinite(out).all()


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="iresnet34: dropout"):
        models.build("iresnet34", dropout=1.0)
    with pytest.raises(ValueError, match="iresnet200: embedding_size"):
        models.build("iresnet200", embedding_size=0)
    model = models.build("iresnet18", input_size=(112, 96), embedding_size=8)  # another multiple of 16: fc follows
    assert model.fc.in_features == 512 * 7 * 6
    with pytest.raises(ValueError, match=r"iresnet18: expected a batch N x 3 x 112 x 96"):
        model.eval()(torch.randn(1, 3, 112, 112))
