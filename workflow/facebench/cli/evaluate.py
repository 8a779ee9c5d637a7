"""``facebench`` commands for evaluation: pair scores, verification metrics (ROC, DET), a development threshold on a
test set, closed-set rank-N / CMC and open-set identification."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import add_provenance, json_arg, read_identification, with_config


def _score(embeddings, pairs: str, features: str, out: str) -> None:
    from facebench.data.protocols import read_pairs_tsv
    from facebench.evaluate.scores import score_pairs, write_scores

    s = score_pairs(embeddings, read_pairs_tsv(pairs), features)
    write_scores(out, s)
    print(f"{len(s['score'])} pairs scored ({features}), {s['dropped']} dropped for failed faces")


def cmd_score_pairs(a):
    from facebench.io import load_npz

    _score(load_npz(a.embeddings), a.pairs, a.features, a.out)


def _evaluate(scores: str, *, search: str, far, folds: int | None, meta: dict | None, protocol_summary: str | None,
              out: str | None, roc_out: str | None, inputs: tuple = (), intervals: bool = False) -> str:
    """One score file's verification metrics as JSON text (written to ``out`` when given), ROC points to ``roc_out``;
    with ``intervals``, 95% confidence intervals of the accuracy (across folds and by bootstrap over pairs)."""
    from facebench.evaluate.scores import read_scores
    from facebench.evaluate.verification import evaluate_pairs

    data = read_scores(scores)
    fold = data.get("fold") if folds is None else None
    result = evaluate_pairs(data["score"], data["label"], folds=fold, n_folds=folds or 10, search=search,
                            fars=tuple(far), with_roc=bool(roc_out) or intervals)
    roc = result.pop("roc", None)
    correct = result.pop("correct", None)
    if intervals:
        from facebench.evaluate import uncertainty as u

        result["accuracy_ci"] = {"level": u.LEVEL, "folds": u.fold_interval(result["fold_accuracy"]),
                                 "bootstrap": u.bootstrap_interval(correct), "bootstrap_resamples": u.RESAMPLES,
                                 "bootstrap_seed": u.SEED}
    result["scores_file"] = str(scores)
    result["fold_source"] = "file" if fold is not None else f"contiguous {folds or 10}"
    if protocol_summary:
        from facebench.io import read_json

        result["protocol_summary"] = read_json(protocol_summary)
    add_provenance(result, meta, *inputs, scores, protocol_summary)
    if roc_out:
        from facebench.evaluate.measures import det_points
        from facebench.io import save_npz

        # the DET beside the ROC it is drawn from (FMR = fpr, FNMR = 1 - tpr): the probit axes, point for point
        det = det_points(roc["fpr"], roc["tpr"], result["n_negative"], result["n_positive"])
        save_npz(roc_out, fpr=roc["fpr"], tpr=roc["tpr"], threshold=roc["threshold"], correct=correct,
                 det_probit_fmr=det["probit_fmr"], det_probit_fnmr=det["probit_fnmr"], det_clip=det["clip"])
        result["roc_file"] = str(roc_out)
    text = json.dumps(result, indent=None if out is None else 2, sort_keys=True)
    if out:
        from facebench.io import write_text

        write_text(out, text + "\n")
    return text


def cmd_eval_pairs(a):
    from facebench.runtime import keep_freed_memory

    keep_freed_memory()  # reuse freed arrays' pages: a fresh page costs a fault (~1.5 s per 100 MB on our VMs)
    print(_evaluate(a.scores, search=a.protocol, far=a.far, folds=a.folds, meta=a.meta,
                    protocol_summary=a.protocol_summary, out=a.out, roc_out=a.roc, intervals=a.intervals))


def cmd_verify(a):
    """score-pairs for every feature mode, then eval-pairs for every threshold search: one process, so that the
    workflow runs one job per protocol instead of (features x (1 + searches)), each paying a start-up. The metrics
    files carry 95% confidence intervals of the accuracy (eval-pairs --intervals)."""
    from facebench.io import load_npz
    from facebench.runtime import keep_freed_memory

    keep_freed_memory()
    embeddings = load_npz(a.embeddings)
    for features in a.features:
        scores = a.scores.format(features=features)
        _score(embeddings, a.pairs, features, scores)
        for search in a.search:
            meta = with_config(a.meta, features=features, threshold_search=search)
            base = a.metrics.format(features=features, search=search)
            text = _evaluate(scores, search=search, far=a.far, folds=None, meta=meta,
                             protocol_summary=a.protocol_summary, out=f"{base}.json", roc_out=f"{base}.roc.npz",
                             inputs=(a.embeddings, a.pairs), intervals=True)
            summary = json.loads(text)
            print(f"{features} {search}: accuracy {summary['accuracy']:.4f}, AUC {summary['auc']:.4f} -> {base}.json")


def cmd_rank(a):
    """Rank-N, the CMC, all-pairs AUC and open-set DIR at FPIR for each feature mode, one file each (``--out`` has a
    {features} field); with ``--threads`` 2 or more the modes are computed at once, one thread each."""
    from facebench.evaluate.identification import all_pairs_auc, rank_n
    from facebench.evaluate.openset import open_set
    from facebench.evaluate.scores import features
    from facebench.io import load_npz, rows_of, write_json
    from facebench.runtime import map_in_threads

    emb = load_npz(a.embeddings)
    paths, ids = read_identification(a.identification)
    idx = rows_of(emb["paths"].tolist(), paths, lambda n, first: f"{a.identification}: {n} image(s) have no "
                                                                 f"embedding in {a.embeddings}, e.g. {first}").tolist()
    failed = [i for i in idx if emb["status"][i] == "failed"]
    keep = [k for k, i in enumerate(idx) if emb["status"][i] != "failed"]
    rows, kept_ids = [idx[k] for k in keep], [ids[k] for k in keep]

    def one_mode(mode: str) -> dict:
        f = features(emb, mode)[rows]
        result = rank_n(f, kept_ids)
        result.update(all_pairs_auc(f, kept_ids, exact_pairs=a.auc_exact_pairs,
                                    sample_negatives=a.auc_sample_negatives, seed=a.seed))
        result["open_set"] = open_set(f, kept_ids, a.seed)
        return result

    for mode, result in zip(a.features, map_in_threads(one_mode, a.features, a.threads), strict=True):
        result.update({"features": mode, "dropped_failed_faces": len(failed),
                       "protocol": "closed set, leave-one-out: each image a probe against all other images"})
        add_provenance(result, with_config(a.meta, features=mode), a.embeddings, a.identification)
        write_json(a.out.format(features=mode), result)
        print(json.dumps(result))


def cmd_dev_threshold(a):
    """A threshold chosen on a development set and applied unchanged to a test set (facebench.evaluate.measures)."""
    from facebench.cli.common import finish
    from facebench.evaluate.measures import DEV_THRESHOLD, dev_test_rates
    from facebench.evaluate.scores import read_scores

    dev, test = read_scores(a.dev), read_scores(a.test)
    result = dev_test_rates(dev["score"], dev["label"], test["score"], test["label"])
    result["dev"]["scores_file"], result["test"]["scores_file"] = str(a.dev), str(a.test)
    result.update({"threshold_rule": DEV_THRESHOLD, **{k: result["test"][k] for k in ("fmr", "fnmr", "hter")}})
    finish(result, a, a.dev, a.test)


def register(add) -> None:
    sp = add("score-pairs", cmd_score_pairs, "cosine score for every pair of a protocol")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--pairs", required=True)
    sp.add_argument("--features", choices=["plain", "flip-concat", "flip-sum"], default="plain")
    sp.add_argument("--out", required=True)

    sp = add("eval-pairs", cmd_eval_pairs,
             "verification metrics of a score file (TSV: score, label[, fold]; 1 = same person) as one JSON object")
    sp.add_argument("scores")
    sp.add_argument("--protocol", choices=["grid", "exact"], default="grid",
                    help="grid: the seed's np.arange(-1, 1, 0.005) sweep; exact: every score midpoint")
    sp.add_argument("--folds", type=int, help="contiguous folds (default: the file's fold column, else 10)")
    sp.add_argument("--far", type=float, nargs="+", default=schema.default("verification.far"), help="FARs for TAR@FAR")
    sp.add_argument("--out", help="also write the JSON here")
    sp.add_argument("--roc", help="write the ROC points (and per-pair correctness) to this .npz")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into the output (the pipeline's provenance)")
    sp.add_argument("--protocol-summary", help="the protocol's JSON summary, copied into the output")
    sp.add_argument("--intervals", action="store_true",
                    help="add 95%% confidence intervals of the accuracy (folds: Student t; pairs: bootstrap)")

    sp = add("verify", cmd_verify,
             "score-pairs and eval-pairs of one protocol for several feature modes and threshold searches")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--pairs", required=True)
    sp.add_argument("--protocol-summary", help="the protocol's JSON summary, copied into each metrics file")
    sp.add_argument("--features", nargs="+", required=True, choices=["plain", "flip-concat", "flip-sum"])
    sp.add_argument("--search", nargs="+", required=True, choices=["grid", "exact"])
    sp.add_argument("--far", type=float, nargs="+", default=schema.default("verification.far"), help="FARs for TAR@FAR")
    sp.add_argument("--scores", required=True, help="score file path with a {features} field")
    sp.add_argument("--metrics", required=True,
                    help="metrics path without extension, with {features} and {search} fields (.json and .roc.npz)")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into each metrics file (its provenance)")

    sp = add("rank", cmd_rank, "closed-set rank-1/rank-5 and CMC, open-set DIR at FPIR identification")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--identification", required=True)
    sp.add_argument("--features", nargs="+", choices=["plain", "flip-concat", "flip-sum"], default=["plain"])
    sp.add_argument("--seed", type=int, default=0,
                    help="seed of the open-set watch-list split and of a sampled all-pairs AUC (config seed)")
    sp.add_argument("--auc-exact-pairs", type=int, default=schema.default("identification.auc_exact_pairs"),
                    help="the all-pairs AUC is exact up to this many image pairs, else estimated from a sample")
    sp.add_argument("--auc-sample-negatives", type=int, default=schema.default("identification.auc_sample_negatives"),
                    help="different-identity pairs the sampled all-pairs AUC draws")
    sp.add_argument("--threads", type=int, default=1, help="feature modes computed at once (the same results)")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into each output")
    sp.add_argument("--out", required=True, help="output path; a {features} field names one file per feature mode")

    sp = add("dev-threshold", cmd_dev_threshold,
             "FMR, FNMR and HTER on a test score file at the EER threshold of a development score file")
    sp.add_argument("--dev", required=True, help="the development protocol's score file (TSV: score, label[, fold])")
    sp.add_argument("--test", required=True, help="the test protocol's score file")
    sp.add_argument("--meta", type=json_arg, help="JSON object merged into the output (the pipeline's provenance)")
    sp.add_argument("--out", required=True, help="the JSON file to write")
