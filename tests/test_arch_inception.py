"""InceptionResnetV1 as facenet-pytorch defines it (models/inception_resnet_v1.py, classify=False): the state-dict
keys and shapes its VGGFace2 / CASIA-WebFace files hold (less ``logits``), the counts, and its L2-normalised output.

The counts were worked out by hand from the public code: a BasicConv2d is 6 tensors (conv weight + BN's 5); the
stem 6 of them (36), Block35 6 + its biased 1x1 conv (38, x5), Mixed_6a 4 (24), Block17 4 + conv (26, x10),
Mixed_7a 7 (42), Block8 4 + conv (26, x6 with ``block8``), last_linear 1 + last_bn 5: 714 tensors, 602 without the
112 BN num_batches_tracked counters. Parameters: stem 615,552 + repeat_1 387,200 + mixed_6a 1,710,080 + repeat_2
6,900,480 + mixed_7a 3,346,176 + Block8s 9,604,608 + last_linear 917,504 + last_bn 1,024 = 23,482,624. The published
files add ``logits.weight`` (8631 x 512 for VGGFace2, 10575 x 512 for CASIA-WebFace) and ``logits.bias``.
"""
from __future__ import annotations

import pytest
import torch
from facebench import models
from facebench.models.checkpoint import load_model, save_model
from torch import nn

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TENSORS, WITHOUT_COUNTERS, PARAMS = 714, 602, 23_482_624
KEYS = {
    "conv2d_1a.conv.weight": (32, 3, 3, 3),
    "conv2d_1a.bn.running_var": (32,),
    "conv2d_2b.conv.weight": (64, 32, 3, 3),
    "conv2d_3b.conv.weight": (80, 64, 1, 1),
    "conv2d_4b.conv.weight": (256, 192, 3, 3),
    "repeat_1.0.branch0.conv.weight": (32, 256, 1, 1),
    "repeat_1.4.branch2.2.conv.weight": (32, 32, 3, 3),
    "repeat_1.4.conv2d.weight": (256, 96, 1, 1),
    "repeat_1.4.conv2d.bias": (256,),
    "mixed_6a.branch0.conv.weight": (384, 256, 3, 3),
    "mixed_6a.branch1.2.conv.weight": (256, 192, 3, 3),
    "repeat_2.9.branch1.1.conv.weight": (128, 128, 1, 7),
    "repeat_2.9.branch1.2.conv.weight": (128, 128, 7, 1),
    "repeat_2.0.conv2d.weight": (896, 256, 1, 1),
    "mixed_7a.branch0.1.conv.weight": (384, 256, 3, 3),
    "mixed_7a.branch2.2.bn.weight": (256,),
    "repeat_3.4.branch1.1.conv.weight": (192, 192, 1, 3),
    "block8.conv2d.weight": (1792, 384, 1, 1),
    "block8.conv2d.bias": (1792,),
    "last_linear.weight": (512, 1792),
    "last_bn.weight": (512,),
    "last_bn.num_batches_tracked": (),
}


@pytest.fixture(scope="module")
def model(one_torch_thread):
    torch.manual_seed(0)
    return models.build("inception_resnet_v1").eval()


def test_state_dict_is_the_published_layout(model):
    state = model.state_dict()
    assert len(state) == TENSORS
    assert sum(not k.endswith("num_batches_tracked") for k in state) == WITHOUT_COUNTERS
    assert sum(p.numel() for p in model.parameters()) == PARAMS
    for key, shape in KEYS.items():
        assert tuple(state[key].shape) == shape, key
    assert "last_linear.bias" not in state and not any(k.startswith("logits") for k in state)
    assert "repeat_1.5.branch0.conv.weight" not in state and "repeat_2.9.branch0.conv.weight" in state
    assert "repeat_3.4.conv2d.bias" in state and "repeat_3.5.conv2d.bias" not in state
    assert {k.split(".")[0] for k in state} == {"conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a",
                                                "conv2d_4b", "repeat_1", "mixed_6a", "repeat_2", "mixed_7a",
                                                "repeat_3", "block8", "last_linear", "last_bn"}
    assert model.embedding_size == 512 and model.input_size == (160, 160)


def test_authors_details(model):
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(bns) == 112 and all(m.eps == 1e-3 for m in bns)  # the TensorFlow value
    assert [b.scale for b in model.repeat_1] == [0.17] * 5 and [b.scale for b in model.repeat_2] == [0.10] * 10
    assert [b.scale for b in model.repeat_3] == [0.20] * 5 and model.block8.scale == 1.0
    assert model.block8.relu is None and all(b.relu is not None for b in model.repeat_3)
    assert model.dropout.p == 0.6


def test_embedding_is_l2_normalised_as_facenet_pytorch_and_raw_without(model):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        unit = model(x)
        raw = model.last_bn(model.last_linear(model.avgpool_1a(model.block8(model.repeat_3(model.mixed_7a(
            model.repeat_2(model.mixed_6a(model.repeat_1(model.conv2d_4b(model.conv2d_4a(model.conv2d_3b(
                model.maxpool_3a(model.conv2d_2b(model.conv2d_2a(model.conv2d_1a(x)))))))))))))).flatten(1)))
    assert unit.shape == (2, 512)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(unit, raw / raw.norm(dim=1, keepdim=True))
    plain = models.build("inception_resnet_v1", normalize=False).eval()
    plain.load_state_dict(model.state_dict())  # the option adds no tensor
    with torch.no_grad():
        torch.testing.assert_close(plain(x), raw)


def test_saved_and_loaded_back_gives_the_same_embedding(model, tmp_path):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        before = model(x)
    save_model(tmp_path / "m.pt", model, backbone="inception_resnet_v1", backbone_args={},
               input_spec={"template": "arcface112", "size": [160, 160], "mean": [0.5] * 3, "std": [128 / 255] * 3})
    back, _ = load_model(tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.equal(back(x), before)


@pytest.mark.parametrize("bad", [(74, 160), (160, 60), (160,), (160.5, 160)])
def test_a_size_too_small_to_reduce_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="inception_resnet_v1: input_size"):
        models.build("inception_resnet_v1", input_size=bad)


def test_the_smallest_size_and_a_wrong_batch():
    small = models.build("inception_resnet_v1", input_size=(75, 75), embedding_size=8).eval()
    with torch.no_grad():
        assert small(torch.randn(1, 3, 75, 75)).shape == (1, 8)
        with pytest.raises(ValueError, match=r"inception_resnet_v1: expected a batch N x 3 x 75 x 75"):
            small(torch.randn(1, 3, 160, 160))
    with pytest.raises(ValueError, match="inception_resnet_v1: normalize"):
        models.build("inception_resnet_v1", normalize="yes")
