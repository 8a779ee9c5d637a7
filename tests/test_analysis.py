"""The embedding-analysis stages: distance statistics, scorer comparison through the pipeline's files, degraded
stores, first-conv kernels, and the report sections built from them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from facebench import resolution, store
from facebench.analysis import embedding_stats, kernels
from facebench.evaluate import scorers
from facebench.evaluate.scores import cosine
from facebench.evaluate.verification import evaluate_pairs
from facebench.io import load_npz, save_npz, write_json
from facebench.models import build
from facebench.models.checkpoint import save_model


def clustered(n_ids=30, per_id=5, dim=16, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, dim))
    ids = np.repeat(np.arange(n_ids), per_id)
    return (centres[ids] + spread * rng.normal(size=(len(ids), dim))).astype(np.float32), \
        np.array([f"Person_{i:02d}" for i in ids])


def test_distance_pairs_take_every_same_identity_pair_under_the_cap_and_as_many_different():
    _, ids = clustered()
    i, j, same = scorers.labelled_pairs(ids, 10_000, np.random.default_rng(0))
    assert same.sum() == (~same).sum() == 30 * (5 * 4 // 2)  # every same-identity pair, under the cap
    assert np.all(ids[i[same]] == ids[j[same]]) and np.all(i[same] != j[same])
    assert np.all(ids[i[~same]] != ids[j[~same]])
    _, _, capped = scorers.labelled_pairs(ids, 50, np.random.default_rng(0))
    assert capped.sum() == 50


def test_separated_identities_give_a_large_d_prime_and_mixed_ones_none():
    f, ids = clustered(spread=0.2)
    tight = embedding_stats.distance_stats(f, ids, seed=1)
    assert tight["intra"]["mean"] < tight["inter"]["mean"] and tight["d_prime"] > 3
    assert sum(tight["intra"]["histogram"]) == tight["intra"]["n"]
    shuffled = embedding_stats.distance_stats(f, np.random.default_rng(2).permutation(ids), seed=1)
    assert abs(shuffled["d_prime"]) < 0.5 and shuffled["inter_below_intra_median"] > 0.3


def test_embedding_stats_drops_failed_faces_and_clusters_the_rest():
    f, ids = clustered(n_ids=12, spread=0.2)
    paths = [f"{p}/{p}_{k:04d}.jpg" for k, p in enumerate(ids)]
    status = np.array(["aligned"] * len(ids))
    status[3] = "failed"
    emb = {"paths": np.array(paths), "status": status, "features": f}
    out = embedding_stats.embedding_stats(emb, paths, list(ids), threshold=0.5, seed=0)
    assert out["images"] == len(ids) - 1 and out["dropped_failed_faces"] == 1
    assert out["clustering"]["kmeans-oracle"]["nmi"] > 0.9


def fake_pipeline_files(n_ids=24, per_id=4, dim=12, seed=0):
    """Embeddings (as the embed rule writes them, LFW paths) and a 4-fold pairs table, folds disjoint by identity."""
    f, ids = clustered(n_ids, per_id, dim, spread=0.35, seed=seed)
    paths = np.array([f"{p}/{p}_{k:04d}.jpg" for k, p in enumerate(ids)])
    rows = []
    rng = np.random.default_rng(seed)
    for fold in range(4):
        members = [i for i in range(n_ids) if i % 4 == fold]
        for m in members:
            a, b = m * per_id, m * per_id + 1
            rows.append((fold, paths[a], paths[b], 1))
        for _ in members:
            x, y = rng.choice(members, 2, replace=False)
            rows.append((fold, paths[x * per_id + 2], paths[y * per_id + 3], 0))
    pairs = {"fold": np.array([r[0] for r in rows]), "path1": np.array([r[1] for r in rows]),
             "path2": np.array([r[2] for r in rows]), "label": np.array([r[3] for r in rows])}
    emb = {"paths": paths, "status": np.array(["aligned"] * len(paths)), "features": f}
    return emb, pairs


def test_compare_scorers_cosine_row_is_the_pipelines_cosine_and_learned_ones_hold_out_the_fold():
    emb, pairs = fake_pipeline_files()
    out = scorers.compare_scorers(emb, pairs, scorers=("cosine", "weighted-l1", "joint-bayesian"), n_pairs=200)
    idx = {p: i for i, p in enumerate(emb["paths"])}
    s = cosine(emb["features"][[idx[p] for p in pairs["path1"]]], emb["features"][[idx[p] for p in pairs["path2"]]])
    direct = evaluate_pairs(s, pairs["label"], folds=pairs["fold"], search="exact")
    assert out["scorers"]["cosine"]["accuracy"] == pytest.approx(direct["accuracy"])
    for name in ("weighted-l1", "joint-bayesian"):
        fits = out["scorers"][name]["fits"]
        assert len(fits) == 4 and all(f["train_identities"] == 18 for f in fits)  # 6 of 24 identities per fold
        assert out["scorers"][name]["auc"] > 0.9


def test_compare_scorers_drops_pairs_of_failed_faces():
    emb, pairs = fake_pipeline_files()
    emb["status"][np.flatnonzero(emb["paths"] == pairs["path1"][0])] = "failed"
    out = scorers.compare_scorers(emb, pairs, scorers=("cosine",))
    assert out["dropped_failed_faces"] == 1 and out["pairs"] == len(pairs["label"]) - 1


def test_path_identity_reads_lfw_folders_and_calfw_flat_names():
    assert scorers.path_identity("Aaron_Eckhart/Aaron_Eckhart_0001.jpg") == "Aaron_Eckhart"
    assert scorers.path_identity("Aaron_Eckhart_0001.jpg") == "Aaron_Eckhart"


def write_store(path, faces):
    path.mkdir(parents=True)
    np.save(path / "faces.npy", faces)
    (path / "index.tsv").write_text("row\tpath\tstatus\tnote\n" + "".join(
        f"{i}\tp/p_{i:04d}.jpg\taligned\t\n" for i in range(len(faces))))
    write_json(path / "summary.json", {"store_version": store.STORE_VERSION, "n_images": len(faces),
                                       "template": "arcface112", "size": [112, 112], "method": "landmarks"})


def test_degraded_store_is_trainings_degrade_at_p1_with_the_same_index(tmp_path):
    from facebench.train.augment import degrade

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(5, 112, 112, 3), dtype=np.uint8)
    write_store(tmp_path / "hr", faces)
    summary = resolution.degrade_store(tmp_path / "hr", tmp_path / "lr", 32, chunk=2)
    out = store.open_faces(tmp_path / "lr")
    want = degrade(torch.from_numpy(faces).float(), 32, 1.0, torch.Generator()).round().clamp(0, 255)
    assert np.array_equal(out, want.to(torch.uint8).numpy())
    assert (tmp_path / "lr" / "index.tsv").read_text() == (tmp_path / "hr" / "index.tsv").read_text()
    assert summary["degrade"]["size"] == 32 and summary["template"] == "arcface112"
    # noise has its energy at high frequencies: the degraded faces are much smoother
    assert np.abs(np.diff(out.astype(float), axis=2)).mean() < 0.5 * np.abs(np.diff(faces.astype(float), axis=2)).mean()


def test_degrade_refuses_a_size_not_below_the_face(tmp_path):
    write_store(tmp_path / "hr", np.zeros((1, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="degrade size 112"):
        resolution.degrade_store(tmp_path / "hr", tmp_path / "lr", 112)


def test_kernels_are_the_first_convolution_of_the_stem(tmp_path):
    torch.manual_seed(0)
    model = build("irse8", embedding_size=8, input_size=[32, 32])
    save_model(tmp_path / "m.pt", model, backbone="irse8", backbone_args={"embedding_size": 8, "input_size": [32, 32]},
               input_spec={"template": "arcface112", "size": [32, 32]}, meta={})
    meta = kernels.kernel_summary(tmp_path / "m.pt", tmp_path / "k.npz")
    w = load_npz(tmp_path / "k.npz")["weights"]
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert np.array_equal(w, first.weight.detach().numpy()) and meta["shape"] == list(w.shape)
    assert w.shape[1] == 3 and meta["roughness_mean"] > 0


def analysis_files(tmp_path):
    """One file of each kind, with the provenance the rules write; the model label carries HTML to check escaping."""
    emb, pairs = fake_pipeline_files()
    cfg = {"model": "m1", "dataset": "lfw", "alignment": "provided"}
    files = []
    sc = scorers.compare_scorers(emb, pairs, scorers=("cosine", "euclidean"))
    sc["provenance"] = {"rule": "compare_scorers", "config": {**cfg, "protocol": "view2"}}
    files.append(tmp_path / "scorers.json")
    write_json(files[-1], sc)
    st = embedding_stats.embedding_stats(emb, list(emb["paths"]), [p.split("/")[0] for p in emb["paths"]],
                                         threshold=0.3)
    st["provenance"] = {"rule": "embedding_stats", "config": cfg}
    files.append(tmp_path / "stats.json")
    write_json(files[-1], st)
    from facebench.analysis.cpd import embedding_gap

    rng = np.random.default_rng(0)
    hi = emb["features"].astype(float)
    gap = embedding_gap(hi, hi @ (np.eye(12) + 0.1 * rng.normal(size=(12, 12))), points=60, seed=0)
    gap.update({"kind": "cpd", "provenance": {"rule": "cpd", "config": {
        **cfg, "degraded": "provided-lr32", "degrade_spec": {"method": "degrade", "source": "provided", "size": 32}}}})
    files.append(tmp_path / "cpd.json")
    write_json(files[-1], gap)
    files.append(tmp_path / "m1.npz")
    save_npz(files[-1], weights=rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
             meta=np.array(json.dumps({"kind": "kernels", "shape": [8, 3, 3, 3], "roughness_mean": 1.0,
                                       "roughness": "x"})))
    return [str(f) for f in files]


def test_report_sections_show_every_analysis_file_with_labels_escaped(tmp_path):
    from pathlib import Path

    from facebench.report.build import build_report

    files = analysis_files(tmp_path)
    tsne = tmp_path / "tsne" / "m1.npz"
    tsne.parent.mkdir()
    pts = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    save_npz(tsne, points=pts[:, :2], identity=np.array(["a", "b"] * 10), sphere=pts,
             meta=np.array(json.dumps({"embedding_size": 3})))
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "index.html"
    build_report([], published=str(root / "report/published.yaml"),
                 template=str(root / "report/templates/index.html.j2"),
                 spec={"profile": "test", "labels": {"m1": "<b>model one</b>"}}, out=str(out),
                 manifest_out=str(tmp_path / "manifest.json"), analysis=files, tsne=[str(tsne)])
    html = out.read_text()
    for section in ('id="scorers-table"', 'id="stats-table"', 'id="cpd-table"', 'id="kernels-table"', 'id="sphere"'):
        assert section in html, section
    assert "&lt;b&gt;model one&lt;/b&gt;" in html and "<b>model one</b>" not in html
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["inputs"]["analysis"]) == sorted(files)


def test_report_refuses_a_file_of_unknown_kind(tmp_path):
    from facebench.report.analysis import analysis_sections

    write_json(tmp_path / "x.json", {"kind": "mystery"})
    with pytest.raises(ValueError, match="x.json: not an analysis file"):
        analysis_sections([str(tmp_path / "x.json")], [], {})


@pytest.mark.parametrize("chunk", [1, 7, 1 << 14])
def test_pair_distances_in_chunks_equal_the_distances_of_all_pairs_at_once(chunk):
    rng = np.random.default_rng(4)
    f = rng.normal(size=(30, 16))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    i, j = rng.integers(0, 30, (2, 100))
    want = 1.0 - np.einsum("ij,ij->i", f[i], f[j])
    assert np.array_equal(embedding_stats.pair_distances(f, i, j, chunk=chunk), want)
    assert embedding_stats.pair_distances(f, i[:0], j[:0]).shape == (0,)
