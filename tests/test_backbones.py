"""Backbones: the common interface every registered name honours, and each family's architecture as published."""
from __future__ import annotations

import pytest
import torch
from facebench import models
from facebench.models.iresnet import IRUnit, SqueezeExcite
from torch import nn

SMALL = 16  # embedding size for the interface tests: keeps the FCs (and the test) small
FAST = {"iresnet": {"depth": 18}}  # the interface loop builds the cheapest member of a family with options
# arcface_torch's deeper IResNets are iresnet18's class at another depth: the interface loop runs iresnet18 only,
# tests/test_arch_iresnet.py checks every depth's layout (without building the big ones' weights)
SAME_CLASS_AS_IRESNET18 = ("iresnet34", "iresnet50", "iresnet100", "iresnet200")
# the onnx backbone runs a published file, not layers of its own: tests/test_onnx.py covers it
INTERFACE = [n for n in models.names() if n not in SAME_CLASS_AS_IRESNET18 and n != "onnx"]
SMALLEST = {"inception_resnet_v1": (75, 75)}  # its last reduction needs 75 px; the others take 32 (overall stride 16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(name, **kwargs):
    return models.build(name, **{"embedding_size": SMALL, **FAST.get(name, {}), **kwargs})


def input_size(model):
    return model.input_size


def small(name, **kwargs):
    """The family at a small input (32 x 32, a 2 x 2 final map, where the network's stride allows it): gradients and
    layer order do not depend on the resolution, and the test stays fast on a shared CPU."""
    return build(name, input_size=SMALLEST.get(name, (32, 32)), **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


def test_families_are_registered():
    assert {"iresnet", "irse8", "mobilefacenet", "resnet18", "resnet50", "sphere20", "iresnet18", "iresnet34",
            "iresnet50", "iresnet100", "iresnet200", "inception_resnet_v1"} <= set(models.names())


@pytest.mark.parametrize("name", INTERFACE)
def test_forward_shape_and_finite_gradients(name):
    torch.manual_seed(0)
    model = build(name)
    assert model.embedding_size == SMALL
    h, w = input_size(model)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, SMALL) and torch.isfinite(out).all()
    # batch 3, not 2: a final BN1d in train mode maps any 2 samples to +-1, which would leave no gradient upstream
    torch.manual_seed(0)
    model = small(name).train()
    out = model(torch.randn(3, 3, *input_size(model)))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: {pname} got no gradient (unused in forward?)"
            assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
    stem = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert stem.weight.grad.abs().sum() > 0, f"{name}: the gradient does not reach the first conv"


@pytest.mark.parametrize("name", INTERFACE)
def test_same_seed_same_weights(name):
    states = []
    for _ in range(2):
        torch.manual_seed(1234)
        states.append(build(name).state_dict())
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), f"{name}: {key} differs between two seeded builds"
    torch.manual_seed(4321)
    other = build(name).state_dict()
    assert any(not torch.equal(states[0][k], other[k]) for k in other if k.endswith("weight")), "the seed is ignored"


@pytest.mark.parametrize("name", INTERFACE)
def test_stem_conv_is_the_conv_that_sees_the_image(name):
    model = small(name).eval()
    first = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: first.append(mod) if not first else None)
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.randn(1, 3, *input_size(model)))
    for hook in hooks:
        hook.remove()
    assert isinstance(model.stem_conv, nn.Conv2d) and model.stem_conv.in_channels == 3
    assert model.stem_conv is first[0]


OPTIONS = [("sphere20", {"batch_norm": True}), ("inception_resnet_v1", {"normalize": False})]


@pytest.mark.parametrize(("name", "options"), [(n, {}) for n in INTERFACE] + OPTIONS)
def test_output_layer_is_the_tail_that_makes_the_embedding(name, options):
    """`output_layer` (what fine-tuning with `trainable: output` trains) is the network's last layers: its parameters
    are a proper tail of the model's, its last module's output is the embedding, and it includes the final BN."""
    model = small(name, **options).eval()
    layers = list(model.output_layer)
    assert layers and all(any(m is sub for sub in model.modules()) for m in layers)
    tail = [p for m in layers for p in m.parameters()]
    params = list(model.parameters())
    assert 0 < len(tail) < len(params) and all(a is b for a, b in zip(tail, params[-len(tail):]))
    seen = []
    hook = layers[-1].register_forward_hook(lambda mod, inp, out: seen.append(out))
    with torch.no_grad():
        out = model(torch.randn(2, 3, *input_size(model)))
    hook.remove()
    assert torch.equal(seen[0].flatten(1), out)
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    if bns:
        assert any(bns[-1] is m for m in layers)


@pytest.mark.parametrize("name, bad", [
    ("sphere20", (100, 96)), ("sphere20", (8, 8)), ("sphere20", (112,)), ("sphere20", (112.5, 96)),
    ("iresnet", (112, 100)), ("iresnet", (0, 112)),
    ("irse8", (16, 16)), ("irse8", (33, 32)),  # 16 px gives a 1 x 1 map, less than its 2 x 2 pooling grid
    ("resnet18", (112, 104)), ("resnet50", (8, 112)),
    ("mobilefacenet", (112, 100)), ("mobilefacenet", (8, 16)), ("iresnet50", (112, 104)), ("iresnet18", (96.5, 96)),
    ("inception_resnet_v1", (74, 160)), ("inception_resnet_v1", (160,)),
])
def test_invalid_input_size_is_refused_by_name(name, bad):
    with pytest.raises(ValueError, match="input_size") as err:
        build(name, input_size=bad)
    assert name in str(err.value)


def test_a_batch_of_the_wrong_size_is_refused_by_name():
    model = build("sphere20").eval()
    with pytest.raises(ValueError, match="sphere20.*input_size"):
        model(torch.randn(1, 3, 112, 112))


# --- sphere20 ---------------------------------------------------------------------------------------------------
def test_sphere20_has_twenty_convs_and_one_fc():
    # Table 2 "20-layer": 4 stride-2 convs + 2 x (1 + 2 + 4 + 1) residual convs; the paper's count excludes the FC
    model = models.build("sphere20")
    assert count(model, nn.Conv2d) == 20
    assert count(model, nn.Linear) == 1
    assert count(model, nn.PReLU) == 20  # one after every conv, none after the FC (the embedding)
    assert [m.stride for m in model.modules() if isinstance(m, nn.Conv2d)].count((2, 2)) == 4
    assert model.fc.in_features == 512 * 7 * 6  # 112 x 96 / 16


def test_sphere20_batch_norm_after_every_conv_and_the_fc():
    def follows(model):  # for each weight layer in forward order, the module that runs right after it
        order = []
        hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in model.modules()
                 if not list(m.children())]
        model.eval()(torch.randn(1, 3, 112, 96))
        for hook in hooks:
            hook.remove()
        return [order[i + 1] if i + 1 < len(order) else None for i, m in enumerate(order)
                if isinstance(m, (nn.Conv2d, nn.Linear))]

    with_bn = build("sphere20", batch_norm=True)
    after = follows(with_bn)
    assert len(after) == 21 and all(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) for m in after)
    assert isinstance(after[-1], nn.BatchNorm1d)
    assert all(m.bias is None for m in with_bn.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    plain = build("sphere20")
    assert count(plain, nn.BatchNorm2d) + count(plain, nn.BatchNorm1d) == 0
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) for m in follows(plain))


def test_sphere20_parameter_count():
    # convs 11.65M (3x3 kernels, widths 64..512) + FC 512*7*6 x 512 = 11.01M -> 22.67M at 512-d, 112 x 96
    assert 22.5e6 < n_params(models.build("sphere20")) < 22.9e6
    assert 24.3e6 < n_params(models.build("sphere20", input_size=(112, 112))) < 24.7e6  # FC 7 x 6 -> 7 x 7


# --- iresnet and irse8 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth, units", [(18, 8), (34, 16), (50, 24), (100, 49)])
def test_iresnet_units_per_depth(depth, units):
    # depth = 2 convs per unit + stem conv + FC; no forward pass, small embedding to keep the build cheap
    model = build("iresnet", depth=depth)
    assert count(model, IRUnit) == units and 2 * units + 2 == depth
    assert count(model, SqueezeExcite) == 0
    assert count(build("iresnet", depth=18, se=True), SqueezeExcite) == 8


def test_iresnet_unit_layout():
    unit = build("iresnet", depth=18).body[1][0]  # first unit of stage 2: 64 -> 128, stride 2
    kinds = [type(m) for m in unit.body]
    assert kinds == [nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    assert unit.body[1].stride == (1, 1) and unit.body[4].stride == (2, 2)  # stride on the second conv
    assert isinstance(unit.shortcut, nn.Sequential)


def test_iresnet50_parameter_count():
    # ArcFace's IResNet-50 at 512-d, 112 x 112: 43.6M (of which the 512*7*7 x 512 FC is 12.85M)
    assert 43.4e6 < n_params(models.build("iresnet", depth=50)) < 43.8e6


def test_irse8_serves_every_resolution_with_one_architecture():
    counts = set()
    for side in (32, 112, 144):
        torch.manual_seed(0)
        model = models.build("irse8", input_size=(side, side)).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, side, side))
        assert out.shape == (2, 128) and torch.isfinite(out).all()
        counts.add(n_params(model))
    assert len(counts) == 1, "the parameter count must not depend on the resolution"
    model = models.build("irse8")
    units = [m for m in model.modules() if isinstance(m, IRUnit)]
    assert len(units) == 8 and all(isinstance(u.se, SqueezeExcite) for u in units)
    assert [u.body[4].stride for u in units].count((2, 2)) == 4


# --- resnet -------------------------------------------------------------------------------------------------------
def test_resnet_final_map_is_seven_by_seven():
    for name, channels in (("resnet18", 512), ("resnet50", 2048)):
        model = build(name)
        assert model.fc.in_features == channels * 7 * 7
    assert count(build("resnet18"), nn.MaxPool2d) == 0


def test_resnet18_parameter_count():
    # 11.2M in convs (as torchvision's resnet18 without its 1000-way FC) + FC 512*7*7 x 512 = 12.85M -> 24.0M
    assert 23.8e6 < n_params(models.build("resnet18")) < 24.2e6
