"""``facebench`` commands for embedding analysis: t-SNE, first-conv kernels, distance statistics, scorers, CPD."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import finish, json_arg, read_identification


def cmd_tsne(a):
    from facebench import runtime
    from facebench.analysis.tsne import tsne_identities

    runtime.set_threads(a.threads)
    meta = tsne_identities(a.model, a.store, a.train_list, a.out, n_identities=a.identities, seed=a.seed)
    print(json.dumps(meta))


def cmd_kernels(a):
    from facebench.analysis.kernels import kernel_summary

    print(json.dumps(kernel_summary(a.model, a.out)))


def cmd_embedding_stats(a):
    from facebench.analysis.embedding_stats import embedding_stats
    from facebench.io import load_npz, read_json

    paths, ids = read_identification(a.identification)
    threshold = read_json(a.threshold_from)["threshold"]  # the model's own verification threshold (cosine)
    result = embedding_stats(load_npz(a.embeddings), paths, ids, threshold=threshold, seed=a.seed,
                             max_pairs=a.max_pairs, cluster_max_images=a.cluster_max_images)
    result["threshold_from"] = str(a.threshold_from)
    finish(result, a, a.embeddings, a.identification, a.threshold_from)


def cmd_compare_scorers(a):
    from facebench.data.protocols import read_pairs_tsv
    from facebench.evaluate.scorers import compare_scorers
    from facebench.io import load_npz

    result = compare_scorers(load_npz(a.embeddings), read_pairs_tsv(a.pairs), scorers=a.scorers, seed=a.seed,
                             n_pairs=a.n_pairs, threads=a.threads or 1)
    finish(result, a, a.embeddings, a.pairs)


def cmd_cpd(a):
    from facebench.analysis.cpd import embedding_gap
    from facebench.io import load_npz, rows_of

    high, low = load_npz(a.high), load_npz(a.degraded)
    rows = rows_of(low["paths"].tolist(), high["paths"].tolist(),
                   lambda n, first: f"{a.degraded}: {n} image(s) of {a.high} have no embedding, e.g. {first}")
    ok = (high["status"] != "failed") & (low["status"][rows] != "failed")
    result = embedding_gap(high["features"][ok], low["features"][rows[ok]], points=a.points, seed=a.seed)
    result.update({"kind": "cpd", "dropped_failed_faces": int((~ok).sum())})
    finish(result, a, a.high, a.degraded)


def register(add) -> None:
    sp = add("tsne", cmd_tsne, "t-SNE of a few training identities' embeddings by one model")
    sp.add_argument("--model", required=True)
    sp.add_argument("--store", required=True, help="the aligned-face store the model trained on")
    sp.add_argument("--train-list", required=True)
    sp.add_argument("--identities", type=int, default=10)
    sp.add_argument("--seed", type=int, default=schema.default("seed"))
    sp.add_argument("--threads", type=int)
    sp.add_argument("--out", required=True)

    sp = add("kernels", cmd_kernels, "the first convolution's kernels of a model, for the report's kernel grid")
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", required=True, help=".npz with the weights and a summary")

    sp = add("embedding-stats", cmd_embedding_stats,
             "intra- vs inter-identity cosine distances and clustering of the identification images' embeddings")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--identification", required=True, help="TSV with columns path, identity")
    sp.add_argument("--threshold-from", required=True, help="a metrics JSON whose threshold cuts the clustering")
    sp.add_argument("--seed", type=int, default=schema.default("seed"))
    sp.add_argument("--max-pairs", type=int, default=schema.default("analysis.max_pairs"),
                    help="cap on same-identity pairs (seeded sample)")
    sp.add_argument("--cluster-max-images", type=int, default=schema.default("analysis.cluster_max_images"),
                    help="above this many images, clustering runs on a seeded sample of whole identities")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)

    sp = add("compare-scorers", cmd_compare_scorers,
             "every verification scorer (cosine, euclidean, chi2-svm, weighted-l1, joint-bayesian) on one protocol")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--pairs", required=True, help="the protocol's pairs TSV (its folds are used)")
    sp.add_argument("--scorers", nargs="+", default=schema.default("analysis.scorers"))
    sp.add_argument("--seed", type=int, default=schema.default("seed"))
    sp.add_argument("--n-pairs", type=int, default=schema.default("analysis.scorer_training_pairs"),
                    help="training pairs per fold for the learned scorers")
    sp.add_argument("--threads", type=int, help="folds of a learned scorer fitted at once (default 1)")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)

    sp = add("cpd", cmd_cpd, "Coherent Point Drift between high-resolution and degraded embeddings of the same faces")
    sp.add_argument("--high", required=True, help="embeddings of the high-resolution store")
    sp.add_argument("--degraded", required=True, help="embeddings of the degraded store (same images)")
    sp.add_argument("--points", type=int, default=schema.default("analysis.cpd_points"),
                    help="faces subsampled with the seed (CPD is O(N^2))")
    sp.add_argument("--seed", type=int, default=schema.default("seed"))
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)
