"""Heads and losses: every registered loss runs finite (fp32, bf16 autocast, degenerate inputs); margin heads match
their formulas and reduce to norm-softmax; mining and pair losses agree with brute-force loops; classifiers learn."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from facebench import losses as L
from facebench.losses.arcface import arc_margin
from facebench.losses.sphereface import psi
from facebench.losses.triplet import batch_hard, semi_hard
from torch import nn

D, C = 16, 6
EXPECTED = {  # name -> (classifies, needs_pairs)
    "softmax": (True, False), "norm-softmax": (True, False), "sphereface": (True, False), "lsoftmax": (True, False),
    "cosface": (True, False), "arcface": (True, False), "center": (True, False),
    "softmax-contrastive": (True, True), "contrastive": (False, True), "triplet": (False, True),
    "siamese": (True, True),
}
CLASSIFYING = [n for n, (classifies, _) in EXPECTED.items() if classifies]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pk_batch(p=4, k=3, d=D, seed=0):
    """P identities x K images each, random embeddings."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(p * k, d, generator=g), torch.arange(p).repeat_interleave(k)


def build(name, **options):
    torch.manual_seed(0)
    return L.build(name, D, C, **options)


def assert_finite_grads(module, *tensors):
    for t in tensors:
        assert t.grad is not None and t.grad.shape == t.shape and torch.isfinite(t.grad).all()
    for pname, p in module.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape and torch.isfinite(p.grad).all(), pname


# --- every registered loss ------------------------------------------------------------------------------------------
def test_registry_names_and_flags():
    assert set(L.names()) == set(EXPECTED)
    for name, (classifies, needs_pairs) in EXPECTED.items():
        loss = build(name)
        assert (loss.classifies, loss.needs_pairs, loss.name) == (classifies, needs_pairs, name)
        assert hasattr(loss.classifying_head() or loss, "weight") == classifies


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_backward_finite(name):
    loss = build(name)
    x, y = pk_batch()
    x.requires_grad_()
    out = loss(x, y)
    assert out.loss.shape == () and out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    # parts stay detached 0-d tensors (the loop reads them when it logs: no host-device wait per step)
    assert out.parts and all(isinstance(v, torch.Tensor) and v.shape == () and not v.requires_grad
                             and math.isfinite(float(v)) for v in out.parts.values())
    if loss.classifies:
        assert out.logits.shape == (len(y), C) and out.logits.dtype == torch.float32
        assert not out.logits.requires_grad
    else:
        assert out.logits is None
    out.loss.backward()
    assert_finite_grads(loss, x)
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bf16_autocast_runs_the_head_in_float32(name):
    loss = build(name)
    fp32_twin = copy.deepcopy(loss)
    proj = nn.Linear(D, D)
    x, y = pk_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = proj(x)
        assert emb.dtype == torch.bfloat16
        out = loss(emb, y)
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    if out.logits is not None:
        assert out.logits.dtype == torch.float32
    # same number as the float32 head on the bf16 values: a bf16 matmul inside would be off by ~1e-2
    torch.testing.assert_close(out.loss, fp32_twin(emb.detach().float(), y).loss, rtol=1e-5, atol=1e-5)
    out.loss.backward()
    assert_finite_grads(loss, proj.weight)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("case", ["zero", "huge", "on-weight", "opposite-weight"])
def test_degenerate_embeddings_stay_finite(name, case):
    loss = build(name)
    x, y = pk_batch()
    if case == "zero":
        x = torch.zeros_like(x)
    elif case == "huge":
        x = x * 1e6
    elif loss.classifies:  # theta = 0 or pi exactly: the edges of acos and sqrt(1 - cos^2)
        x = loss.classifying_head().weight.detach()[y] * (3.0 if case == "on-weight" else -3.0)
    x.requires_grad_()
    out = loss(x, y)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert_finite_grads(loss, x)


# --- reductions and formulas ----------------------------------------------------------------------------------------
def cosines(x, w):
    return F.normalize(x) @ F.normalize(w).t()


def test_norm_softmax_is_scaled_cosine_ce():
    head = build("norm-softmax", s=20.0)
    x, y = pk_batch()
    expected = F.cross_entropy(20.0 * cosines(x, head.weight), y)
    torch.testing.assert_close(head(x, y).loss, expected)


@pytest.mark.parametrize("name", ["cosface", "arcface"])
def test_zero_margin_is_norm_softmax(name):
    ref = build("norm-softmax", s=20.0)
    head = build(name, s=20.0, m=0.0)
    head.load_state_dict(ref.state_dict())
    x, y = pk_batch()
    xr, xh = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = ref(xr, y), head(xh, y)
    torch.testing.assert_close(b.loss, a.loss)
    torch.testing.assert_close(b.logits, a.logits)
    a.loss.backward()
    b.loss.backward()
    torch.testing.assert_close(xh.grad, xr.grad)
    torch.testing.assert_close(head.weight.grad, ref.weight.grad)


def test_cosface_and_arcface_margins():
    x, y = pk_batch()
    s, m = 30.0, 0.35
    cosface = build("cosface", s=s, m=m)
    cos = cosines(x, cosface.weight)
    onehot = F.one_hot(y, C).float()
    torch.testing.assert_close(cosface(x, y).loss, F.cross_entropy(s * (cos - m * onehot), y))
    torch.testing.assert_close(cosface(x, y).logits, s * cos)  # accuracy on the margin-free scores

    arcface = build("arcface", s=s, m=0.5)
    theta = torch.acos(cosines(x, arcface.weight))
    assert (theta.gather(1, y[:, None]) + 0.5 < math.pi).all()  # no fallback in this batch: plain cos(theta + m)
    expected = F.cross_entropy(s * torch.cos(theta + 0.5 * onehot), y)
    torch.testing.assert_close(arcface(x, y).loss, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [{}, {"base": 0.0, "lambda_min": 0.0}])
def test_sphereface_m1_is_normalised_weight_softmax(options):
    head = build("sphereface", m=1, **options)
    x, y = pk_batch()
    expected = F.cross_entropy(x @ F.normalize(head.weight).t(), y)  # ||x|| cos(theta_j), no bias
    torch.testing.assert_close(head(x, y).loss, expected)
    plain = build("lsoftmax", m=1, **options)
    torch.testing.assert_close(plain(x, y).loss, F.cross_entropy(x @ plain.weight.t(), y))  # W x, no bias


@pytest.mark.parametrize("name", ["sphereface", "lsoftmax"])
@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_angular_margin_target_logit(name, lam):
    """Against psi written with acos (the code uses the Chebyshev polynomial), lambda held fixed via lambda_min."""
    head = build(name, m=4, base=0.0, lambda_min=lam)
    x, y = pk_batch()
    out = head(x, y)
    assert out.parts["lambda"] == lam
    cos = cosines(x, head.weight)
    theta = torch.acos(cos)
    k = torch.floor(4 * theta / math.pi)
    psi_ref = (-1.0) ** k * torch.cos(4 * theta) - 2 * k
    mixed = torch.where(F.one_hot(y, C).bool(), (lam * cos + psi_ref) / (1 + lam), cos)
    scale = x.norm(dim=1, keepdim=True)
    if name == "lsoftmax":
        scale = scale * head.weight.norm(dim=1)
    torch.testing.assert_close(out.loss, F.cross_entropy(scale * mixed, y), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.logits, scale * cos, rtol=1e-5, atol=1e-5)  # the m = 1 logits


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_psi_is_monotonic_and_cos_m_theta_on_the_first_branch(m):
    theta = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    cos = torch.cos(theta).requires_grad_()
    value = psi(cos, m)
    assert (value.diff() < 0).all()
    assert value[0].item() == pytest.approx(1.0) and value[-1].item() == pytest.approx(1 - 2 * m)
    first = theta <= math.pi / m
    torch.testing.assert_close(value[first], torch.cos(m * theta[first]).to(value), rtol=0, atol=1e-12)
    value.sum().backward()
    assert torch.isfinite(cos.grad).all() and (cos.grad >= -1e-9).all()  # psi rises with cos theta


def test_arcface_target_is_finite_and_monotonic_with_the_fallback():
    theta = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    cos = torch.cos(theta).clamp(-1 + 1e-7, 1 - 1e-7)
    for m in (0.2, 0.5, 0.8):
        target = arc_margin(cos, m)
        assert torch.isfinite(target).all()
        assert (target.diff() <= 0).all() and (target < cos).all()
        plain = theta + m < math.pi - 1e-3
        torch.testing.assert_close(target[plain], torch.cos(torch.acos(cos[plain]) + m), rtol=0, atol=1e-9)
    assert not (torch.cos(theta + 0.5).diff() <= 0).all()  # what the fallback prevents: cos(theta + m) turns up
    cos32 = cos.float().requires_grad_()
    arc_margin(cos32, 0.5).sum().backward()
    assert torch.isfinite(cos32.grad).all()
    easy = arc_margin(cos, 0.5, easy_margin=True)
    torch.testing.assert_close(easy[cos <= 0], cos[cos <= 0])


def test_focal_gamma_zero_is_cross_entropy_and_gamma_matches_the_formula():
    g = torch.Generator().manual_seed(1)
    logits, y = 3 * torch.randn(12, C, generator=g), torch.randint(0, C, (12,), generator=g)
    torch.testing.assert_close(build("softmax").cross_entropy(logits, y), F.cross_entropy(logits, y))
    p = logits.softmax(1).gather(1, y[:, None]).squeeze(1)
    for gamma in (0.5, 2.0):
        expected = (-(1 - p) ** gamma * p.log()).mean()
        torch.testing.assert_close(build("softmax", focal_gamma=gamma).cross_entropy(logits, y), expected)


@pytest.mark.parametrize("name", CLASSIFYING)
def test_every_classifier_takes_focal_gamma(name):
    plain, focal = build(name), build(name, focal_gamma=2.0)
    focal.load_state_dict(plain.state_dict())
    x, y = pk_batch()
    assert focal(x, y).parts["ce"] < plain(x, y).parts["ce"]  # (1 - p_t)^2 < 1 down-weights every sample


@pytest.mark.parametrize("name", ["contrastive", "triplet"])
def test_metric_losses_refuse_focal(name):
    with pytest.raises(ValueError, match=f"'{name}'.*focal_gamma"):
        build(name, focal_gamma=2.0)


# --- SphereFace's lambda annealing ----------------------------------------------------------------------------------
def test_sphereface_lambda_annealing_counts_training_steps_and_resumes():
    head = build("sphereface")
    x, y = pk_batch()
    assert head.state_dict()["iteration"].dtype == torch.long
    head.eval()
    assert head(x, y).parts["lambda"] == 1500.0 and int(head.iteration) == 0
    head.train()
    lams = [head(x, y).parts["lambda"] for _ in range(3)]
    assert lams == pytest.approx([1500 / (1 + 0.12 * it) for it in (1, 2, 3)])
    head.eval()
    head(x, y)
    assert int(head.iteration) == 3

    resumed = build("sphereface")
    resumed.load_state_dict(head.state_dict())
    assert int(resumed.iteration) == 3
    assert resumed.train()(x, y).parts["lambda"] == pytest.approx(1500 / (1 + 0.12 * 4))

    resumed.iteration.fill_(1999)  # next: 1500 / 241 = 6.22, still above the floor
    assert resumed(x, y).parts["lambda"] == pytest.approx(1500 / 241)
    resumed.iteration.fill_(2499)  # 1500 / 301 < 5: the floor
    assert resumed(x, y).parts["lambda"] == 5.0

    other = build("lsoftmax", base=1000.0, gamma=0.1, power=2.0, lambda_min=0.0)
    other.iteration.fill_(4)
    assert other(x, y).parts["lambda"] == pytest.approx(1000 * 1.5 ** -2)


# --- center loss ----------------------------------------------------------------------------------------------------
def test_center_param_groups():
    head = build("center", **{"lambda": 0.1, "center_lr": 0.3})
    groups = head.param_groups(0.05)
    assert len(groups) == 2
    rest, centers = groups
    assert centers["lr"] == 0.3 and len(centers["params"]) == 1 and centers["params"][0] is head.centers
    assert rest["lr"] == 0.05 and {id(p) for p in rest["params"]} == {id(head.weight), id(head.bias)}
    torch.optim.SGD(groups, lr=0.05, momentum=0.9, weight_decay=5e-4)  # accepted as is
    assert build("softmax").param_groups(0.1)[0]["lr"] == 0.1 and build("triplet").param_groups(0.1) == []


def test_center_term_zero_at_the_centers_and_its_feature_gradient():
    head = build("center", **{"lambda": 0.1})
    x, y = pk_batch()
    with torch.no_grad():
        head.centers.normal_()
    at_centers = head(head.centers.detach()[y], y)
    assert at_centers.parts["center"] == 0.0
    torch.testing.assert_close(at_centers.loss.detach(), at_centers.parts["ce"])

    with torch.no_grad():  # no classifier gradient: what reaches x is the center term alone
        head.weight.zero_()
        head.bias.zero_()
    x.requires_grad_()
    out = head(x, y)
    c = head.centers.detach()[y]
    assert out.parts["center"] == pytest.approx(((x - c) ** 2).sum(1).mean().item() / 2, rel=1e-5)
    out.loss.backward()
    torch.testing.assert_close(x.grad, 0.1 * (x - c).detach() / len(y))


def test_center_update_is_the_alpha_rule():
    head = build("center", **{"lambda": 0.1, "center_lr": 0.5})
    with torch.no_grad():
        head.centers.normal_()
    x = torch.randn(6, D)
    y = torch.tensor([0, 0, 0, 1, 2, 2])  # unequal counts: 1 + n_j differs per class
    # momentum and weight decay set for the backbone must not touch the centers (their group overrides both)
    opt = torch.optim.SGD(head.param_groups(0.1), lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(2):
        expected = head.centers.detach().clone()
        for j in range(C):
            members = x[y == j]
            if len(members):
                expected[j] -= 0.5 * (expected[j] - members).sum(0) / (1 + len(members))
        opt.zero_grad()
        head(x, y).loss.backward()
        opt.step()
        torch.testing.assert_close(head.centers.detach(), expected)


# --- pair losses against brute force --------------------------------------------------------------------------------
def brute_contrastive(x, y, margin, normalize):
    e = F.normalize(x) if normalize else x
    pos, neg = [], []
    for i in range(len(y)):
        for j in range(i + 1, len(y)):
            d = torch.linalg.norm(e[i] - e[j])
            if y[i] == y[j]:
                pos.append(d ** 2)
            else:
                neg.append(torch.clamp(margin - d, min=0) ** 2)
    mean = lambda v: torch.stack(v).mean() if v else torch.tensor(0.0)  # noqa: E731
    return mean(pos), mean(neg)


@pytest.mark.parametrize(("normalize", "margin"), [(True, 1.0), (True, 1.5), (False, 6.0)])
def test_contrastive_matches_brute_force(normalize, margin):
    x, y = pk_batch(p=4, k=3, seed=3)
    loss = build("contrastive", margin=margin, normalize=normalize)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = loss(xa, y)
    pull, push = brute_contrastive(xb, y, margin, normalize)
    if margin > 1:
        assert push > 0  # the push term is exercised
    assert out.parts["pull"] == pytest.approx(pull.item(), rel=1e-5)
    assert out.parts["push"] == pytest.approx(push.item(), rel=1e-4, abs=1e-6)
    out.loss.backward()
    (pull + push).backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)


def test_softmax_contrastive_is_ce_plus_lambda_contrastive():
    head = build("softmax-contrastive", **{"lambda": 0.5, "margin": 1.5})
    x, y = pk_batch()
    pull, push = brute_contrastive(x, y, 1.5, True)
    expected = F.cross_entropy(x @ head.weight.t() + head.bias, y) + 0.5 * (pull + push)
    torch.testing.assert_close(head(x, y).loss, expected, rtol=1e-5, atol=1e-5)


def brute_triplet(x, y, margin, normalize, mining):
    e = F.normalize(x) if normalize else x
    dist = lambda i, j: torch.linalg.norm(e[i] - e[j])  # noqa: E731
    n, terms = len(y), []
    for a in range(n):
        positives = [p for p in range(n) if p != a and y[p] == y[a]]
        negatives = [q for q in range(n) if y[q] != y[a]]
        if not positives or not negatives:
            continue
        d_neg = [dist(a, q) for q in negatives]
        if mining == "batch-hard":
            terms.append(torch.clamp(max(dist(a, p) for p in positives) - min(d_neg) + margin, min=0))
            continue
        for p in positives:
            d_ap = dist(a, p)
            farther = [d for d in d_neg if d > d_ap]
            d_an = min(farther) if farther else max(d_neg)
            terms.append(torch.clamp(d_ap - d_an + margin, min=0))
    return torch.stack(terms).mean()


@pytest.mark.parametrize("mining", ["batch-hard", "semi-hard"])
@pytest.mark.parametrize(("normalize", "margin"), [(True, 0.2), (False, 0.5)])
def test_triplet_matches_brute_force(mining, normalize, margin):
    x, y = pk_batch(p=3, k=4, seed=5)
    loss = build("triplet", mining=mining, margin=margin, normalize=normalize)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = loss(xa, y)
    expected = brute_triplet(xb, y, margin, normalize, mining)
    assert expected > 0
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)
    out.loss.backward()
    expected.backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)


def test_semi_hard_picks_the_closest_farther_negative():
    # points on a line; label:position  0:0.0  0:1.0  1:0.5  1:1.8  2:3.0  2:10.0
    x = torch.tensor([[0.0, 0], [1.0, 0], [0.5, 0], [1.8, 0], [3.0, 0], [10.0, 0]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    d = torch.cdist(x, x)
    triplets = {tuple(int(v) for v in t) for t in zip(*semi_hard(d, y))}
    assert triplets == {
        (0, 1, 3),  # d_ap 1.0; negatives at 0.5, 1.8, 3, 10: the closest beyond 1.0 is 1.8
        (1, 0, 4),  # d_ap 1.0; negatives at 0.5, 0.8, 2, 9: 2.0, not the hard 0.5 or 0.8
        (2, 3, 4),  # d_ap 1.3; negatives at 0.5, 0.5, 2.5, 9.5
        (3, 2, 0),  # d_ap 1.3; negatives at 1.8, 0.8, 1.2, 8.2: 1.2 is not farther than 1.3
        (4, 5, 0),  # d_ap 7.0; every negative is closer: fall back to the farthest (3.0)
        (5, 4, 3),  # d_ap 7.0; negatives at 10, 9, 9.5, 8.2
    }
    loss = L.build("triplet", 2, None, mining="semi-hard", margin=0.2, normalize=False)
    assert loss(x, y).loss.item() == pytest.approx(4.2 / 6)  # only (4, 5, 0) violates: 7 - 3 + 0.2
    a, p, n = batch_hard(d, y)
    assert (a.tolist(), p.tolist(), n[:2].tolist()) == ([0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4], [2, 2])


@pytest.mark.parametrize(("name", "options"), [("triplet", {}), ("triplet", {"mining": "semi-hard"}),
                                               ("contrastive", {}), ("softmax-contrastive", {}),
                                               ("siamese", {})])
@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [2]])
def test_metric_losses_without_pairs_give_zero_with_a_grad_fn(name, options, labels):
    y = torch.tensor(labels)
    x = torch.randn(len(y), D, requires_grad=True)
    out = build(name, **options)(x, y)
    assert torch.isfinite(out.loss) and out.loss.grad_fn is not None
    metric = {"triplet": "triplet", "contrastive": "pull", "softmax-contrastive": "contrastive",
              "siamese": "contrastive"}[name]
    if name == "triplet" or len(y) == 1:
        assert out.parts[metric] == 0.0
    if name == "contrastive" and len(set(labels)) == len(labels):
        assert out.parts["pull"] == 0.0  # no positive pair: the pull term is 0, the push term stays
    out.loss.backward()
    assert torch.isfinite(x.grad).all()


# --- registry -------------------------------------------------------------------------------------------------------
def test_registry_errors_name_the_loss_and_the_option():
    with pytest.raises(KeyError, match="no-such-loss") as err:
        L.build("no-such-loss", D, C)
    assert "arcface" in str(err.value) and "triplet" in str(err.value)
    with pytest.raises(TypeError, match=r"'arcface'.*'margin'"):
        L.build("arcface", D, C, margin=0.5)
    with pytest.raises(TypeError, match=r"'center'.*'lambda_'"):
        L.build("center", D, C, lambda_=0.1)  # config spells it `lambda`
    assert L.build("center", D, C, **{"lambda": 0.2}).lambda_ == 0.2
    assert L.defaults("center") == {"lambda": 0.01, "center_lr": 0.5, "focal_gamma": 0.0}
    for name, options, key in [("sphereface", {"m": 1.5}, "m"), ("arcface", {"s": -1.0}, "s"),
                               ("triplet", {"mining": "hardest"}, "mining"), ("cosface", {}, "num_classes")]:
        with pytest.raises(ValueError, match=f"'{name}'.*{key}"):
            L.build(name, D, None if key == "num_classes" else C, **options)
    with pytest.raises(KeyError, match="twice"):
        L.register("arcface")(type("Dup", (L.Loss,), {}))
    with pytest.raises(ValueError, match=r"'softmax'.*N x 16"):
        build("softmax")(torch.zeros(4, 8), torch.zeros(4, dtype=torch.long))


# --- a tiny convergence check ---------------------------------------------------------------------------------------
def nearest_centre_accuracy(emb, y):
    """How often an embedding's nearest class centre (cosine) is its own class's: the blobs are apart in the space."""
    unit = F.normalize(emb)
    centres = F.normalize(torch.stack([unit[y == c].mean(0) for c in range(int(y.max()) + 1)]))
    return ((unit @ centres.t()).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("name", CLASSIFYING + ["arcface+focal"])
def test_learns_three_gaussian_blobs(name):
    """What training reaches, not the path it takes: the final loss depends on every rounding of every step (it
    differs between CPUs), the classes' separation does not. lr 0.01 keeps each loss well inside its stable range:
    at 0.05 siamese (CE + a squared-distance term on raw embeddings) ended anywhere from 64% to 100% accurate with
    the seed or the inputs' last digits changed; at 0.01 every loss here ended 99-100% accurate, its nearest-centre
    accuracy 100%, in each of 16 runs (8 seeds; 8 with 1e-3 noise on the inputs)."""
    name, _, focal = name.partition("+")
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(30)
    x = 4 * torch.randn(3, 8, generator=g)[y] + torch.randn(90, 8, generator=g)
    torch.manual_seed(0)
    model, head = nn.Linear(8, 8), L.build(name, 8, 3, focal_gamma=2.0 if focal else 0.0)
    opt = torch.optim.SGD([{"params": model.parameters(), "lr": 0.01}, *head.param_groups(0.01)], lr=0.01,
                          momentum=0.9)
    for _ in range(200):
        out = head(model(x), y)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    with torch.no_grad():
        emb = model(x)
        out = head.eval()(emb, y)
    assert torch.isfinite(out.loss)
    # chance is 1/3: the head classifies the blobs, and the embedding keeps them apart
    assert (out.logits.argmax(1) == y).float().mean() > 0.9
    assert nearest_centre_accuracy(emb, y) > 0.9
