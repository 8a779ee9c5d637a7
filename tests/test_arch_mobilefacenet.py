"""MobileFaceNet at any input whose sides are multiples of 16: the global depthwise (GDC) kernel follows the last
feature map (7 x 7 at 112 x 112, 7 x 6 at 112 x 96), every tensor name stays that of the published checkpoint."""
from __future__ import annotations

import pytest
import torch
from facebench.models import build
from facebench.models.checkpoint import load_model, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the published mobilefacenet_arcface_casia_112x112.pth (tests/test_convert.py imports it: 333 tensors) holds these
PUBLISHED_112 = {
    "conv1.conv.weight": (64, 3, 3, 3),
    "conv2_dw.conv.weight": (64, 1, 3, 3),
    "conv_23.conv_dw.conv.weight": (128, 1, 3, 3),
    "conv_4.model.5.project.conv.weight": (128, 256, 1, 1),
    "sep.weight": (512, 128, 1, 1),
    "GDC_dw.weight": (512, 1, 7, 7),
    "features.weight": (128, 512, 1, 1),
    "last_bn.running_var": (128,),
}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_112x112_is_the_published_layout():
    state = build("mobilefacenet").state_dict()
    assert len(state) == 333
    for key, shape in PUBLISHED_112.items():
        assert tuple(state[key].shape) == shape, key


def test_112x96_has_a_7x6_gdc_and_a_128d_output():
    torch.manual_seed(0)
    model = build("mobilefacenet", input_size=(112, 96)).eval()
    assert model.input_size == (112, 96)
    assert model.GDC_dw.kernel_size == (7, 6) and tuple(model.GDC_dw.weight.shape) == (512, 1, 7, 6)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 112, 96))
    assert out.shape == (2, 128) and torch.isfinite(out).all()
    # same tensor names at every size; only the GDC kernel differs: 512 channels x 7 rows x (7 - 6) columns
    wide = build("mobilefacenet")
    assert list(model.state_dict()) == list(wide.state_dict())
    assert n_params(wide) - n_params(model) == 512 * 7
    assert build("mobilefacenet", input_size=[64, 48]).GDC_dw.kernel_size == (4, 3)  # config gives a list


@pytest.mark.parametrize("bad", [(112, 100), (100, 96), (8, 112), (112,), (112.5, 96)])
def test_a_size_that_is_not_a_multiple_of_16_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"mobilefacenet: input_size") as err:
        build("mobilefacenet", input_size=bad)
    if len(bad) == 2 and all(float(s).is_integer() for s in bad):
        assert "multiple of 16" in str(err.value)


def test_a_batch_of_another_size_is_refused_by_name():
    model = build("mobilefacenet", input_size=(112, 96)).eval()
    with pytest.raises(ValueError, match=r"mobilefacenet: expected a batch N x 3 x 112 x 96"):
        model(torch.randn(1, 3, 112, 112))


def test_saved_and_loaded_back_gives_the_same_embedding(tmp_path):
    torch.manual_seed(0)
    model = build("mobilefacenet", input_size=(112, 96)).eval()
    x = torch.randn(2, 3, 112, 96)
    with torch.no_grad():
        before = model(x)
    save_model(tmp_path / "m.pt", model, backbone="mobilefacenet",
               backbone_args={"embedding_size": 128, "input_size": [112, 96]},
               input_spec={"template": "sphereface96x112"})
    back, info = load_model(tmp_path / "m.pt")
    assert back.GDC_dw.kernel_size == (7, 6) and info["backbone_args"]["input_size"] == [112, 96]
    with torch.no_grad():
        assert torch.equal(back(x), before)
