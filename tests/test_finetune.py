"""Fine-tuning in the training loop: what `trainable` freezes, the loss head carried over from the init model, and
validation accuracy after every epoch (which must not change training)."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from facebench.evaluate.validation import load_validation_set
from facebench.io import read_tsv, write_tsv
from facebench.models import build
from facebench.models.checkpoint import load_head, load_model
from facebench.models.inputs import to_model_input
from facebench.train import loop
from facebench.train.loop import Interrupted
from sklearn.metrics import roc_auc_score
from test_train import N_IDS, PER_ID, SIZE, make_store, run, spec, weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy(tmp_path):
    store, train_list = make_store(tmp_path)
    return tmp_path, store, train_list


def stage_1(toy, loss="arcface"):
    tmp_path, store, train_list = toy
    run(tmp_path, store, train_list, spec(loss, steps=3), tag="base")
    return tmp_path / "base/model.pt"


def output_layer_keys() -> set[str]:
    """State-dict keys of the toy backbone's output layer."""
    model = build("irse8", embedding_size=16, input_size=[SIZE, SIZE])
    tail = [m for m in model.output_layer]
    return {f"{name}.{k}" for name, m in model.named_modules() if any(m is t for t in tail) for k in m.state_dict()}


# ---------------------------------------------------------------- trainable
@pytest.mark.parametrize("trainable", ["head", "output"])
def test_frozen_parameters_stay_bit_identical_and_stay_out_of_the_optimizer(toy, trainable):
    tmp_path, store, train_list = toy
    base = stage_1(toy)
    summary, out = run(tmp_path, store, train_list, spec("arcface", steps=3, trainable=trainable), tag="ft",
                       init_model=base)
    assert summary["trainable"] == trainable
    before, after = weights(base), weights(out / "model.pt")
    trained = output_layer_keys() if trainable == "output" else set()
    for key in before:
        if key not in trained:  # weights and batch-norm statistics alike
            assert torch.equal(before[key], after[key]), key
    if trained:
        assert any(not torch.equal(before[k], after[k]) for k in trained)
    assert not torch.equal(load_head(base)["state_dict"]["weight"], load_head(out / "model.pt")["state_dict"]["weight"])
    model = build("irse8", embedding_size=16, input_size=[SIZE, SIZE])
    n_trainable = 1 + sum(p.numel() > 0 for m in model.output_layer for p in m.parameters()) * (trainable == "output")
    state = torch.load(out / "work/state.pt", weights_only=True)
    assert sum(len(g["params"]) for g in state["optimizer"]["param_groups"]) == n_trainable


def test_freezing_needs_an_init_model_and_something_to_train(toy):
    tmp_path, store, train_list = toy
    with pytest.raises(ValueError, match=r"models.toy.train.trainable: 'head' freezes .*models.toy.train.init"):
        run(tmp_path, store, train_list, spec(trainable="head"))
    base = stage_1(toy)
    with pytest.raises(ValueError, match=r"models.toy.train.trainable: 'head' leaves nothing to train"):
        run(tmp_path, store, train_list, spec("contrastive", trainable="head"), tag="c", init_model=base)
    with pytest.raises(ValueError, match=r"models.toy.train.trainable: 'some' is not one of all, output, head"):
        run(tmp_path, store, train_list, spec(trainable="some"), tag="d", init_model=base)


# ---------------------------------------------------------------- the head carried over
def test_stage_2_siamese_starts_its_classifier_from_the_stage_1_arcface_head(toy):
    tmp_path, store, train_list = toy
    base = stage_1(toy)
    saved = load_head(base)
    assert (saved["loss"], saved["num_classes"], saved["embedding_size"]) == ("arcface", N_IDS, 16)
    assert saved["identities"] == [f"id{i}" for i in range(N_IDS)]
    still = {"lr": 1e-9, "momentum": 0.0, "weight_decay": 0.0, "steps": 1}
    summary, out = run(tmp_path, store, train_list, spec("siamese", **still), tag="s2", init_model=base)
    assert summary["head_init"] == f"from {base}"
    torch.testing.assert_close(load_head(out / "model.pt")["state_dict"]["weight"], saved["state_dict"]["weight"],
                               atol=1e-6, rtol=0)
    summary, _ = run(tmp_path, store, train_list, spec("cosface", **still), tag="cos", init_model=base)
    assert summary["head_init"] == "fresh (the init head's loss is 'arcface', this one's 'cosface')"
    summary, _ = run(tmp_path, store, train_list, spec("siamese", **still), tag="none")
    assert summary["head_init"] == "fresh (no train.init)"


def test_a_head_for_other_identities_or_none_starts_fresh(toy):
    tmp_path, store, train_list = toy
    base = stage_1(toy)
    renamed = tmp_path / "renamed.tsv"
    header, rows = read_tsv(train_list)
    write_tsv(renamed, header, ([p, "x" + i] for p, i in rows))
    summary, _ = run(tmp_path, store, renamed, spec("arcface", steps=1), tag="other", init_model=base)
    assert summary["head_init"] == "fresh (the init head classifies other identities)"
    # a model file from before heads were saved (or imported weights) still loads, and starts a fresh head
    payload = torch.load(base, weights_only=True)
    del payload["head"]
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    assert load_model(old)[1]["backbone"] == "irse8" and load_head(old) is None
    summary, _ = run(tmp_path, store, train_list, spec("arcface", steps=1), tag="old", init_model=old)
    assert summary["head_init"] == f"fresh ({old} carries no head weights)"


# ---------------------------------------------------------------- validation
def make_pairs(tmp_path):
    """Two folds of same/different pairs over the toy store's faces."""
    rows = []
    for fold in range(2):
        for i in range(N_IDS):
            j = 2 * fold
            rows.append([fold, f"id{i}/id{i}_{j:04d}.jpg", f"id{i}/id{i}_{j + 1:04d}.jpg", 1, 0])
            other = (i + 1) % N_IDS
            rows.append([fold, f"id{i}/id{i}_{j:04d}.jpg", f"id{other}/id{other}_{j:04d}.jpg", 0, 0])
    path = tmp_path / "pairs.tsv"
    write_tsv(path, ["fold", "path1", "path2", "label", "line"], rows)
    return path, rows


def fail_face(store, path):
    header, rows = read_tsv(store / "index.tsv")
    write_tsv(store / "index.tsv", header, ([r[0], r[1], "failed" if r[1] == path else r[2], r[3]] for r in rows))


def test_validation_every_epoch_changes_no_weight_and_resumes(toy, monkeypatch):
    tmp_path, store, train_list = toy
    pairs, pair_rows = make_pairs(tmp_path)
    failed = pair_rows[0][1]
    fail_face(store, failed)  # the pairs that hold it are dropped and counted
    kept = [r for r in pair_rows if failed not in (r[1], r[2])]
    s = spec(steps=None, epochs=2, validate={"dataset": "toy", "protocol": "p", "alignment": "provided"})
    val = {"validation": load_validation_set(store, pairs, "models.toy.train.validate")}
    summary, out = run(tmp_path, store, train_list, s, tag="whole", **val)
    plain, _ = run(tmp_path, store, train_list, {**s, "train": {**s["train"], "validate": None}}, tag="plain")
    a, b = weights(out / "model.pt"), weights(tmp_path / "plain/model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)  # validation leaves training as it was

    steps_per_epoch = (N_IDS * PER_ID - 1) // 8
    v = summary["validation"]
    assert (v["pairs_used"], v["dropped_pairs"]) == (len(kept), len(pair_rows) - len(kept)) and len(kept) < 24
    assert [(r["step"], r["epoch"]) for r in v["epochs"]] == [(steps_per_epoch, 1.0), (2 * steps_per_epoch, 2.0)]
    assert all(0 <= r["val_accuracy"] <= 1 for r in v["epochs"])
    assert summary["final"]["val_auc"] == v["epochs"][-1]["val_auc"]
    assert plain["validation"] is None

    # the last epoch's AUC is scikit-learn's on the final model's cosine scores
    model, info = load_model(out / "model.pt")
    faces = np.load(store / "faces.npy")
    index = {p: k for k, p in enumerate(r[1] for r in read_tsv(store / "index.tsv")[1])}

    def emb(paths):
        with torch.no_grad():
            return model(to_model_input(torch.from_numpy(faces[[index[p] for p in paths]]), info["input"])).numpy()

    f1, f2 = emb([r[1] for r in kept]), emb([r[2] for r in kept])
    cos = (f1 * f2).sum(1) / (np.linalg.norm(f1, axis=1) * np.linalg.norm(f2, axis=1))
    assert v["epochs"][-1]["val_auc"] == pytest.approx(roc_auc_score([r[3] for r in kept], cos), abs=1e-6)

    # interrupted after the first epoch's validation: the resumed run has the same table and weights
    real = loop.lr_factor

    def kill_during_step_8(step, *args):  # the loop's thread, once per step (augmentation runs ahead in another)
        if step == 7:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(step, *args)

    monkeypatch.setattr(loop, "lr_factor", kill_during_step_8)
    with pytest.raises(Interrupted, match="after step 8"):
        run(tmp_path, store, train_list, s, tag="cut", **val)
    assert len(read_tsv(tmp_path / "cut/work/epochs.tsv")[1]) == 1
    monkeypatch.setattr(loop, "lr_factor", real)
    resumed, _ = run(tmp_path, store, train_list, s, tag="cut", **val)
    assert resumed["resumed_from_step"] == 8 and resumed["validation"]["epochs"] == v["epochs"]
    c = weights(tmp_path / "cut/model.pt")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_validate_in_config_needs_the_store_and_pairs(toy):
    tmp_path, store, train_list = toy
    s = spec(validate={"dataset": "toy", "protocol": "p", "alignment": "provided"})
    with pytest.raises(ValueError, match=r"models.toy.train.validate is set, but no validation store"):
        run(tmp_path, store, train_list, s)
