"""The siamese loss (cross-age stage 2): balanced in-batch pairs, eq. 1-2 against a hand computation, the margin, the
wrapped classifier (the head a stage-1 model carries over)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from facebench import losses as L
from facebench.losses.pairs import balanced_pairs

D, C = 4, 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(**options):
    torch.manual_seed(0)
    return L.build("siamese", D, C, **options)


def partners(mask):
    """The column of each row's one True (-1 where none)."""
    return [row.nonzero().flatten().tolist()[0] if row.any() else -1 for row in mask]


# --- pairs ----------------------------------------------------------------------------------------------------------
def test_balanced_pairs_in_a_shuffled_pk_batch():
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(5).repeat_interleave(4)[torch.randperm(20, generator=g)]
    pos, neg = balanced_pairs(labels)
    same = labels[:, None] == labels[None, :]
    # one positive and one negative partner per image, and each image is a partner once: N + N pairs
    for mask in (pos, neg):
        assert mask.sum(1).tolist() == [1] * 20 and mask.sum(0).tolist() == [1] * 20
    assert same[pos].all() and not same[neg].any() and not pos.diagonal().any()
    again = balanced_pairs(labels.clone())
    assert torch.equal(pos, again[0]) and torch.equal(neg, again[1])  # a function of the batch: no random draw


def test_balanced_pairs_follow_the_documented_rule():
    # grouped order 0 1 | 2 3 (groups by first appearance), largest group m = 2
    pos, neg = balanced_pairs(torch.tensor([5, 5, 2, 2]))
    assert partners(pos) == [1, 0, 3, 2]  # the next image of the same identity, cyclically
    assert partners(neg) == [2, 3, 0, 1]  # m places further in the grouped order
    # batch order 7 2 7 2 2 -> grouped 0 2 | 1 3 4, m = 3
    pos, neg = balanced_pairs(torch.tensor([7, 2, 7, 2, 2]))
    assert partners(pos) == [2, 3, 0, 4, 1]


def test_pairs_that_cannot_be_made_are_left_out_not_made_wrong():
    labels = torch.tensor([0, 0, 0, 1, 2])  # identity 0 holds more than half; 1 and 2 have one image each
    pos, neg = balanced_pairs(labels)
    same = labels[:, None] == labels[None, :]
    assert same[pos].all() and not same[neg].any()
    assert pos[3:].sum() == 0 and pos[:3].sum(1).tolist() == [1, 1, 1]
    assert 0 < neg.sum() < 5
    assert balanced_pairs(torch.tensor([4]))[0].sum() == balanced_pairs(torch.tensor([4]))[1].sum() == 0


# --- the loss against a hand computation ----------------------------------------------------------------------------
def arcface_ce(x, w, y, s, m):
    """Per-image ArcFace CE written out: target logit s cos(theta_y + m), others s cos(theta_j)."""
    cos = F.normalize(x) @ F.normalize(w).t()
    out = []
    for i in range(len(y)):
        logits = s * cos[i].clone()
        logits[y[i]] = s * math.cos(math.acos(cos[i, y[i]].item()) + m)
        out.append(-(logits[y[i]] - torch.logsumexp(logits, 0)))
    return torch.stack(out)


@pytest.mark.parametrize("power", [2, 1])
def test_loss_is_eq_2_by_hand(power):
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.8, 0.3, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0], [0.0, 0.5, 1.0, 0.2]])
    y = torch.tensor([0, 0, 1, 1])
    loss = build(positive_power=power, classifier_args={"s": 10.0, "m": 0.3})
    ce = arcface_ce(x, loss.classifier.weight.detach(), y, 10.0, 0.3)
    pairs = [(0, 1, 1), (1, 0, 1), (2, 3, 1), (3, 2, 1), (0, 2, 0), (1, 3, 0), (2, 0, 0), (3, 1, 0)]
    total = 0.0
    for i, j, same in pairs:
        d = torch.linalg.norm(x[i] - x[j])
        l2 = d ** power / 2 if same else torch.clamp(2.5 - d, min=0) ** 2 / 2  # eq. 1, margin 2.5
        total = total + (ce[i] + ce[j]) / 2 + l2  # eq. 2
    out = loss(x, y)
    assert out.loss.item() == pytest.approx((total / len(pairs)).item(), rel=1e-5)
    assert float(out.parts["ce"]) == pytest.approx(ce.mean().item(), rel=1e-5)


def test_lambda_weighs_the_contrastive_term_and_normalize_uses_unit_vectors():
    g = torch.Generator().manual_seed(0)
    x, y = 3 * torch.randn(9, D, generator=g), torch.arange(C).repeat_interleave(3)
    one, half = build()(x, y), build(**{"lambda": 0.5})(x, y)
    assert half.loss.item() == pytest.approx(float(one.parts["ce"]) + 0.5 * float(one.parts["contrastive"]), rel=1e-5)
    unit = build(normalize=True)(x, y)
    assert float(unit.parts["pull"]) == pytest.approx(float(build()(F.normalize(x), y).parts["pull"]), rel=1e-5)


def test_negatives_beyond_the_margin_contribute_nothing():
    x = torch.tensor([[0.0, 0, 0, 0], [0.5, 0, 0, 0], [3.0, 0, 0, 0], [3.5, 0, 0, 0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])  # negative pairs (0,2), (1,3), (2,0), (3,1) are all 3.0 apart, beyond m = 2.5
    out = build()(x, y)
    assert float(out.parts["push"]) == 0.0
    assert float(out.parts["contrastive"]) == pytest.approx(4 * 0.5 ** 2 / 2 / 8)  # the positives alone, over 8 pairs
    closer = build(margin=3.5)(x.detach(), y)
    assert float(closer.parts["push"]) == pytest.approx(0.25)  # (3.5 - 3.0)^2 for every negative pair


@pytest.mark.parametrize("power", [2, 1])
def test_gradient_finite_with_coincident_pairs(power):
    loss = build(positive_power=power)
    x = torch.tensor([[1.0, 2, 0, 0], [1.0, 2, 0, 0], [0.0, 0, 0, 0], [0.0, 0, 0, 0]], requires_grad=True)
    out = loss(x, torch.tensor([0, 0, 1, 1]))  # PK sampling repeats an image when an identity is short of K
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(x.grad).all()
    assert torch.isfinite(loss.classifier.weight.grad).all()


# --- the wrapped classifier -----------------------------------------------------------------------------------------
def test_the_classifier_is_a_registered_loss_whose_weights_a_stage_1_head_fills():
    loss = build(classifier="cosface", classifier_args={"m": 0.2})
    head = loss.classifying_head()
    assert head is loss.classifier and head.name == "cosface" and head.m == 0.2
    stage1 = L.build("cosface", D, C)
    head.load_state_dict(stage1.state_dict(), strict=True)  # same keys and shapes as the plain classifier
    assert not hasattr(loss, "weight")
    center = build(classifier="center")
    assert [g.get("momentum") for g in center.param_groups(0.1)] == [None, 0.0]  # center's own groups


@pytest.mark.parametrize(("options", "match"), [
    ({"classifier": "triplet"}, "classifier must be a classifying loss"),
    ({"classifier": "softmax-contrastive"}, "classifier must be a classifying loss"),
    ({"classifier": "nope"}, r"option classifier: unknown loss 'nope'"),
    ({"classifier_args": {"q": 1}}, r"option classifier: loss 'arcface' has no option 'q'"),
    ({"classifier_args": {"focal_gamma": 2.0}}, "focal_gamma"),
    ({"positive_power": 3}, "positive_power"),
    ({"margin": 0.0}, "margin"),
])
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        build(**options)
