"""bob.measure-style measures against brute force on small random scores: DET, CMC, open-set DIR at FPIR, and a
development threshold applied to a test set (with its config key and its rule)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from facebench.config import ConfigError, validate_config
from facebench.evaluate import measures as M
from facebench.evaluate import openset as O
from facebench.evaluate.identification import rank_n
from scipy.stats import norm

SCHEMA = "workflow/schemas/config.schema.yaml"


def random_pairs(rng, n=200, ties=False):
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.normal(size=n) + 1.2 * labels
    return (np.round(scores, 1) if ties else scores), labels


def brute_rates(scores, labels, t):
    acc = [s > t for s in scores]
    neg = [a for a, y in zip(acc, labels) if y == 0]
    pos = [a for a, y in zip(acc, labels) if y == 1]
    return sum(neg) / len(neg), sum(not a for a in pos) / len(pos)


# --- DET ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ties", [False, True])
def test_det_points_are_the_error_rates_at_every_distinct_score_on_probit_axes(ties):
    from facebench.evaluate.verification import roc

    rng = np.random.default_rng(1)
    scores, labels = random_pairs(rng, ties=ties)
    fpr, tpr, thr = roc(scores, labels)
    n_pos, n_neg = int(labels.sum()), int((1 - labels).sum())
    det = M.det_points(fpr, tpr, n_neg, n_pos)
    # brute force: accept score >= each ROC threshold (+inf first: nothing accepted)
    for i, t in enumerate(thr):
        fmr = np.mean(scores[labels == 0] >= t)
        fnmr = np.mean(scores[labels == 1] < t)
        assert det["fmr"][i] == pytest.approx(fmr, abs=1e-12) and det["fnmr"][i] == pytest.approx(fnmr, abs=1e-12)
        c_fmr, c_fnmr = 0.5 / n_neg, 0.5 / n_pos
        assert det["probit_fmr"][i] == pytest.approx(norm.ppf(min(max(fmr, c_fmr), 1 - c_fmr)), abs=1e-12)
        assert det["probit_fnmr"][i] == pytest.approx(norm.ppf(min(max(fnmr, c_fnmr), 1 - c_fnmr)), abs=1e-12)
    assert np.all(np.isfinite(det["probit_fmr"])) and np.all(np.isfinite(det["probit_fnmr"]))
    assert np.all(np.diff(det["probit_fmr"]) >= 0) and np.all(np.diff(det["probit_fnmr"]) <= 0)
    assert det["clip"].tolist() == [0.5 / n_neg, 0.5 / n_pos]
    assert M.probit([0.0, 0.5, 1.0]).tolist() == [-np.inf, 0.0, np.inf]


def test_the_verify_roc_file_holds_the_det(tmp_path):
    rng = np.random.default_rng(2)
    scores, labels = random_pairs(rng, 300)
    f = tmp_path / "s.tsv"
    f.write_text("".join(f"{s!r}\t{y}\n" for s, y in zip(scores.tolist(), labels)))
    r = subprocess.run([sys.executable, "-m", "facebench", "eval-pairs", str(f), "--roc", str(tmp_path / "r.npz")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    z = np.load(tmp_path / "r.npz")
    want = M.det_points(z["fpr"], z["tpr"], out["n_negative"], out["n_positive"])
    assert {"det_probit_fmr", "det_probit_fnmr", "det_clip"} <= set(z.files)
    np.testing.assert_array_equal(z["det_probit_fmr"], want["probit_fmr"])
    np.testing.assert_array_equal(z["det_probit_fnmr"], want["probit_fnmr"])
    assert len(z["det_probit_fmr"]) == len(z["fpr"])


# --- development threshold ----------------------------------------------------------------------------------------

def brute_eer_threshold(scores, labels):
    """Every candidate of the exact search (below all, each midpoint, the highest score); the smallest |FMR - FNMR|,
    ties to the highest threshold."""
    u = np.unique(scores)
    cands = [np.nextafter(u[0], -np.inf)] + [(a + b) / 2 for a, b in zip(u[:-1], u[1:])] + [u[-1]]
    best = None
    for t in cands:
        fmr, fnmr = brute_rates(scores, labels, t)
        key = (abs(fmr - fnmr), -t)
        if best is None or key < best[0]:
            best = (key, t)
    return best[1]


@pytest.mark.parametrize("seed,ties", [(0, False), (1, False), (2, True), (3, True)])
def test_eer_threshold_and_rates_at_it_match_brute_force(seed, ties):
    rng = np.random.default_rng(seed)
    dev, dev_y = random_pairs(rng, 200, ties)
    test, test_y = random_pairs(rng, 200, ties)
    t = M.eer_threshold(dev, dev_y)
    assert t == brute_eer_threshold(dev, dev_y)
    out = M.dev_test_rates(dev, dev_y, test, test_y)
    assert out["threshold"] == t
    for part, (s, y) in (("dev", (dev, dev_y)), ("test", (test, test_y))):
        fmr, fnmr = brute_rates(s, y, t)
        got = out[part]
        assert (got["fmr"], got["fnmr"]) == pytest.approx((fmr, fnmr), abs=1e-12)
        assert got["hter"] == pytest.approx((fmr + fnmr) / 2, abs=1e-12)
        assert got["n_positive"] == int(y.sum()) and got["n_negative"] == len(y) - int(y.sum())
    # the EER threshold's rates bracket the interpolated EER
    assert min(out["dev"]["fmr"], out["dev"]["fnmr"]) - 1e-12 <= out["dev"]["eer"]
    assert out["dev"]["eer"] <= max(out["dev"]["fmr"], out["dev"]["fnmr"]) + 1e-12


def test_eer_threshold_edge_cases():
    assert M.eer_threshold([0.1, 0.9], [0, 1]) == 0.5  # separable: the midpoint, both rates 0
    assert M.rates_at([0.1, 0.9], [0, 1], 0.5) == {"n_positive": 1, "n_negative": 1, "fmr": 0.0, "fnmr": 0.0,
                                                    "hter": 0.0}
    with pytest.raises(ValueError, match="both same-person"):
        M.rates_at([0.1, 0.2], [1, 1], 0.0)


def test_dev_threshold_cli_writes_rates_and_provenance(tmp_path):
    rng = np.random.default_rng(4)
    files = {}
    for name in ("dev", "test"):
        s, y = random_pairs(rng, 200)
        files[name] = tmp_path / f"{name}.tsv"
        files[name].write_text("score\tlabel\n" + "".join(f"{a!r}\t{b}\n" for a, b in zip(s.tolist(), y)))
    out = tmp_path / "m" / "view2-plain-devthreshold.json"
    meta = {"provenance": {"rule": "dev_threshold", "profile": "t", "config": {"protocol": "view2"}}}
    r = subprocess.run([sys.executable, "-m", "facebench", "dev-threshold", "--dev", str(files["dev"]), "--test",
                        str(files["test"]), "--meta", json.dumps(meta), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text())
    assert got["provenance"]["rule"] == "dev_threshold" and set(got["provenance"]["inputs"]) == {
        str(files["dev"]), str(files["test"])}
    assert (got["fmr"], got["fnmr"], got["hter"]) == (got["test"]["fmr"], got["test"]["fnmr"], got["test"]["hter"])
    assert got["dev"]["scores_file"] == str(files["dev"]) and "EER threshold" in got["threshold_rule"]


# --- CMC ----------------------------------------------------------------------------------------------------------

def brute_cmc(f, ids, ranks):
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    ids = np.asarray(ids)
    first = []
    for i in range(len(f)):
        order = np.argsort(-sim[i], kind="stable")[:-1]  # the probe itself (-inf) last, dropped
        first.append(int(np.flatnonzero(ids[order] == ids[i])[0]) + 1)
    return [float(np.mean(np.array(first) <= r)) for r in range(1, ranks + 1)]


@pytest.mark.parametrize("n_ids,per_id", [(15, 4), (4, 3)])  # 12 images: fewer than 20 ranks of gallery
def test_cmc_matches_brute_force_and_keeps_rank1_rank5(n_ids, per_id):
    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(n_ids), per_id)
    f = rng.normal(size=(n_ids, 16))[ids] + rng.normal(scale=1.2, size=(len(ids), 16))
    out = rank_n(f, ids, block=7)
    assert len(out["cmc"]) == 20
    assert out["cmc"] == pytest.approx(brute_cmc(f, ids, 20), abs=1e-12)
    assert (out["rank1"], out["rank5"]) == (out["cmc"][0], out["cmc"][4])
    assert np.all(np.diff(out["cmc"]) >= 0) and out["cmc"][-1] <= 1.0


# --- open set -----------------------------------------------------------------------------------------------------

def identities(rng, n_ids=40):
    per = rng.integers(1, 6, n_ids)  # some identities with one image
    ids = np.repeat([f"p{i:02d}" for i in range(n_ids)], per)
    return ids[rng.permutation(len(ids))]


def test_watch_list_split_is_seeded_and_follows_the_protocol():
    rng = np.random.default_rng(6)
    ids = identities(rng)
    a, b = O.watch_list(ids, 3), O.watch_list(ids, 3)
    assert all(np.array_equal(a[k], b[k]) for k in ("gallery", "mated", "nonmated"))
    assert not np.array_equal(O.watch_list(ids, 4)["gallery"], a["gallery"])
    names, counts = np.unique(ids, return_counts=True)
    assert len(a["enrolled"]) == (counts >= 2).sum() // 2
    assert all(counts[list(names).index(n)] >= 2 for n in a["enrolled"])
    assert sorted(ids[a["gallery"]].tolist()) == a["enrolled"]  # one gallery image per enrolled identity
    assert set(ids[a["mated"]]) <= set(a["enrolled"]) and not set(ids[a["nonmated"]]) & set(a["enrolled"])
    every = np.sort(np.concatenate([a["gallery"], a["mated"], a["nonmated"]]))
    assert np.array_equal(every, np.arange(len(ids)))  # each image exactly once


def brute_open_set(f, ids, split, fpir):
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    gallery_ids = ids[split["gallery"]]
    best_nonmated = [max(float(f[p] @ f[g]) for g in split["gallery"]) for p in split["nonmated"]]
    # the lowest threshold taken from the non-mated best scores with FPIR <= fpir
    ok = [t for t in best_nonmated if np.mean(np.array(best_nonmated) > t) <= fpir]
    t = min(ok)
    hits = 0
    for p in split["mated"]:
        sims = [float(f[p] @ f[g]) for g in split["gallery"]]
        own = sims[list(gallery_ids).index(ids[p])]
        hits += own >= max(sims) and own > t
    return t, hits / len(split["mated"])


@pytest.mark.parametrize("seed", [0, 1])
def test_dir_at_fpir_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    ids = identities(rng, 60)
    centers = rng.normal(size=(60, 8))
    f = centers[[int(i[1:]) for i in ids]] + rng.normal(scale=0.8, size=(len(ids), 8))
    out = O.open_set(f, ids, seed=seed, fpirs=(1e-2, 1e-1, 0.3))
    split = O.watch_list(ids, seed)
    assert (out["n_enrolled"], out["n_mated"], out["n_nonmated"]) == (
        len(split["gallery"]), len(split["mated"]), len(split["nonmated"]))
    for key, fpir in (("0.01", 1e-2), ("0.1", 1e-1), ("0.3", 0.3)):
        t, dir_ = brute_open_set(f, ids, split, fpir)
        assert out["threshold_at_fpir"][key] == pytest.approx(t, abs=1e-12)
        assert out["dir_at_fpir"][key] == pytest.approx(dir_, abs=1e-12)
        assert out["fpir_achieved"][key] <= fpir
    assert 0 <= out["dir_at_fpir"]["0.01"] <= out["dir_at_fpir"]["0.1"] <= out["rank1_mated"] <= 1
    assert np.all(np.diff(out["curve"]["dir"]) >= 0) and "watch list" in out["protocol"]


def test_rank_cli_writes_cmc_and_open_set(tmp_path):
    rng = np.random.default_rng(7)
    ids = np.repeat([f"P{i}" for i in range(12)], 3)
    paths = [f"{n}/{n}_{k:04d}.jpg" for k, n in enumerate(ids)]
    f = rng.normal(size=(12, 8))[np.repeat(np.arange(12), 3)] + rng.normal(scale=0.5, size=(36, 8))
    np.savez(tmp_path / "e.npz", paths=np.array(paths), status=np.array(["ok"] * 36), features=f.astype(np.float32),
             features_flip=f.astype(np.float32))
    (tmp_path / "id.tsv").write_text("path\tidentity\n" + "".join(f"{p}\t{n}\n" for p, n in zip(paths, ids)))
    r = subprocess.run([sys.executable, "-m", "facebench", "rank", "--embeddings", str(tmp_path / "e.npz"),
                        "--identification", str(tmp_path / "id.tsv"), "--seed", "5", "--out",
                        str(tmp_path / "rank-{features}.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.loads((tmp_path / "rank-plain.json").read_text())
    assert len(got["cmc"]) == 20 and got["rank1"] == got["cmc"][0]
    assert got["open_set"]["seed"] == 5 and set(got["open_set"]["dir_at_fpir"]) == {"0.01", "0.1"}
    assert (got["open_set"]["n_enrolled"], got["open_set"]["n_mated"], got["open_set"]["n_nonmated"]) == (6, 12, 18)


def test_rank_cli_computes_the_feature_modes_at_once_with_the_same_bytes(tmp_path):
    rng = np.random.default_rng(3)
    ids = np.repeat([f"P{i}" for i in range(15)], 4)
    paths = [f"{n}/{n}_{k:04d}.jpg" for k, n in enumerate(ids)]
    centre = rng.normal(size=(15, 8))[np.repeat(np.arange(15), 4)]
    f, flip = (centre + rng.normal(scale=0.7, size=(60, 8)) for _ in range(2))
    np.savez(tmp_path / "e.npz", paths=np.array(paths), status=np.array(["ok"] * 60), features=f.astype(np.float32),
             features_flip=flip.astype(np.float32))
    (tmp_path / "id.tsv").write_text("path\tidentity\n" + "".join(f"{p}\t{n}\n" for p, n in zip(paths, ids)))
    written = {}
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        r = subprocess.run([sys.executable, "-m", "facebench", "rank", "--embeddings", str(tmp_path / "e.npz"),
                            "--identification", str(tmp_path / "id.tsv"), "--features", "plain", "flip-concat",
                            "--threads", str(threads), "--out", str(out / "rank-{features}.json")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        written[threads] = {m: (out / f"rank-{m}.json").read_bytes() for m in ("plain", "flip-concat")}
    assert written[1] == written[2]
    plain, concat = (json.loads(written[2][m]) for m in ("plain", "flip-concat"))
    assert (plain["features"], concat["features"]) == ("plain", "flip-concat")
    assert plain["auc_all_pairs"] != concat["auc_all_pairs"]  # two different computations, each in its own file


# --- config: the dev key ------------------------------------------------------------------------------------------

@pytest.fixture()
def with_dev(root, monkeypatch):
    monkeypatch.chdir(root)
    cfg = yaml.safe_load((root / "config/smoke.yaml").read_text())
    ds = cfg["datasets"]["lfw"]
    ds["files"]["pairsDevTrain"] = {"path": "x.txt"}
    ds["verification"]["devtrain"] = {"pairs": "pairsDevTrain", "folds": 10}
    ds["verification"]["view2"]["dev"] = "devtrain"
    return cfg


def test_a_dev_protocol_of_the_same_dataset_is_accepted(with_dev):
    validate_config(copy.deepcopy(with_dev), SCHEMA)


@pytest.mark.parametrize("dev", ["view2", "nope"])
def test_dev_must_name_another_protocol_of_the_dataset(with_dev, dev):
    with_dev["datasets"]["lfw"]["verification"]["view2"]["dev"] = dev
    with pytest.raises(ConfigError, match=rf"config key datasets.lfw.verification.view2.dev: '{dev}' is not another "
                                          r"key of datasets.lfw.verification"):
        validate_config(with_dev, SCHEMA)
