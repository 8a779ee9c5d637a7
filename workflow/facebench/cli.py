"""``facebench <command>``: the entry point of every Snakemake rule and of users' own runs.

Each command imports only what it needs, so ``facebench eval-pairs`` starts in a fraction of a second.
Errors the user can fix (bad input, bad config) print one line naming the file, line or key and exit with 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None


def _lines(path: str) -> list[str]:
    return [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]


# ---------------------------------------------------------------- data
def cmd_fetch_dataset(a):
    from facebench.data.fetch import fetch_dataset

    m = fetch_dataset(a.name, a.spec, a.out)
    print(f"{a.name}: {m['n_images']} images at {m['images_root']}; {len(m['files'])} protocol file(s) verified")


def _manifest(path):
    from facebench.io import read_json

    return read_json(path)


def cmd_pairs_protocol(a):
    from facebench.data.protocols import write_pairs_protocol

    m = _manifest(a.manifest)
    vspec = a.spec["verification"][a.protocol]
    key = vspec["pairs"]
    if key not in m["files"]:
        raise KeyError(f"datasets.{m['dataset']}.verification.{a.protocol}.pairs: {key!r} is not one of the "
                       f"dataset's files ({', '.join(sorted(m['files']))})")
    summary = write_pairs_protocol(m["files"][key]["path"], vspec, set(_lines(m["images_list"])), a.out,
                                   on_missing=a.spec.get("on_missing_image", "fail"), subset=a.spec.get("subset"),
                                   fmt=m.get("format", "lfw"))
    print(json.dumps(summary))


def cmd_identification_protocol(a):
    from facebench.data.protocols import write_identification

    m = _manifest(a.manifest)
    summary = write_identification(_lines(m["images_list"]), a.spec["identification"], a.out,
                                   subset=a.spec.get("subset"), files=m["files"], fmt=m.get("format", "lfw"),
                                   split=a.spec.get("split"), dataset=m["dataset"])
    print(json.dumps(summary))


def cmd_training_set(a):
    from facebench.data.protocols import write_training_set

    m = _manifest(a.manifest)
    summary = write_training_set(_lines(m["images_list"]), a.spec["training"], m["files"], a.out, m["dataset"],
                                 fmt=m.get("format", "lfw"), split=a.spec.get("split"))
    print(json.dumps(summary))


def cmd_image_list(a):
    from facebench.data.protocols import write_image_list

    print(f"{write_image_list(a.protocol_files, a.out)} images needed")


# ---------------------------------------------------------------- landmarks and alignment
def cmd_landmarks_provided(a):
    from facebench import landmarks
    from facebench.io import write_json

    manifest = _manifest(a.manifest)
    key = f"landmarks-{a.source}"
    if key not in manifest["files"]:
        raise KeyError(f"datasets.{manifest['dataset']}.landmarks.{a.source}: not configured for this dataset")
    table, counts = landmarks.from_provided(manifest["files"][key]["path"], tuple(a.frame), manifest["images_root"],
                                            _lines(a.images))
    landmarks.write(a.out, table)
    if a.summary:
        write_json(a.summary, {"source": a.source, "counts": counts})
    print(f"landmarks ({a.source}): {counts}")


def _image_files(root: Path) -> list[str]:
    """Every image file under ``root`` (by extension), as sorted relative paths."""
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in exts and p.is_file())


def cmd_landmarks(a):
    from facebench import landmarks, runtime
    from facebench.detect.landmarking import landmark_images
    from facebench.detect.mtcnn import MTCNN, Settings
    from facebench.io import write_json

    if (a.image_dir is None) == (a.manifest is None):
        raise ValueError("give IMAGE_DIR or --manifest (whose images_root is used), not both or neither")
    root = Path(a.image_dir) if a.image_dir else Path(_manifest(a.manifest)["images_root"])
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such image folder")
    names = _lines(a.list) if a.list else _image_files(root)
    if not names:
        raise ValueError(f"{a.list or root}: no images to landmark")
    weights = {net: Path(a.weights) / f"{net}.pt" for net in ("pnet", "rnet", "onet")}
    for net, path in weights.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: MTCNN {net} weights not found (--weights names the folder holding "
                                    "pnet.pt, rnet.pt and onet.pt)")
    runtime.keep_freed_memory()
    runtime.set_threads(a.threads)
    settings = Settings(min_face_size=a.min_face_size, factor=a.factor, thresholds=tuple(a.thresholds),
                        select=a.select)
    detector = MTCNN(weights, settings, device=runtime.pick_device(a.device))
    table, summary = landmark_images(root, names, detector, batch_size=a.batch_size, threads=a.threads)
    landmarks.write(a.out, table)
    if a.summary:
        write_json(a.summary, summary)
    print(f"landmarks (mtcnn): {summary['counts']}")


def cmd_landmark_agreement(a):
    from facebench import landmarks
    from facebench.detect.agreement import agreement
    from facebench.images import load_rgb
    from facebench.io import atomic_path, read_json, write_json
    from facebench.report.figures import landmark_figure

    root = Path(_manifest(a.manifest)["images_root"])
    names = _lines(a.images)
    detected, reference = landmarks.read(a.detected), landmarks.read(a.reference)
    missing = [n for n in names if n not in detected]
    if missing:
        raise ValueError(f"{a.detected}: no line for {len(missing)} listed images, e.g. {missing[0]}")
    result = agreement({n: detected[n] for n in names}, reference, root, tuple(a.frame))
    examples = a.examples or names[:2]
    unknown = [e for e in examples if e not in detected]
    if unknown:
        raise KeyError(f"detect.mtcnn.examples: {unknown[0]!r} is not an image of this dataset's protocols")
    shown = examples + [w["image"] for w in result.get("worst_images", [])[:1] if w["image"] not in examples]
    panels = []
    for name in shown:
        sets = [(f"MTCNN ({detected[name].flag})", detected[name].points)]
        if name in reference:
            sets.append((a.reference_name, reference[name].points))
        tag = "\n(largest disagreement)" if name not in examples else ""
        panels.append({"title": name.rsplit("/", 1)[-1] + tag, "image": load_rgb(root / name)[0], "sets": sets})
    with atomic_path(a.figure) as tmp:
        tmp.write_bytes(landmark_figure(panels))
    summary = read_json(a.detected_summary)
    write_json(a.out, {"kind": "landmark_agreement", "detected": "mtcnn", "reference": a.reference_name,
                       "dataset": _manifest(a.manifest)["dataset"], "images": len(names), **result,
                       "detector": {k: summary[k] for k in ("counts", "select", "settings", "not_ok")},
                       "figure": str(a.figure), "examples": shown})
    print(json.dumps(result.get("distance", {})))


def cmd_fetch_file(a):
    from facebench.data.download import fetch

    path = fetch(a.spec, a.out, key=a.key)
    print(f"{a.key}: {path}")


def cmd_align(a):
    from facebench import align, landmarks

    manifest = _manifest(a.manifest)
    table = landmarks.read(a.landmarks) if a.landmarks else None
    summary = align.build_store(manifest["images_root"], _lines(a.images), a.out, tpl=align.template(a.template),
                                method="center" if a.method == "center" else "landmarks", landmarks=table,
                                frame=tuple(a.frame), on_error=a.on_error, threads=a.threads)
    print(json.dumps(summary))


# ---------------------------------------------------------------- models
def cmd_import_weights(a):
    from facebench.data.download import fetch
    from facebench.models import build
    from facebench.models.checkpoint import save_model
    from facebench.models.convert import import_checkpoint
    from facebench.models.inputs import backbone_args

    spec = a.spec
    raw = Path(a.out).with_suffix(".source.pth")
    bargs = backbone_args(spec, f"models.{a.name}")
    model = build(spec["backbone"], **bargs)
    try:  # the fetched source is removed whether its import succeeds or is refused
        fetch(spec["weights"], raw, key=f"models.{a.name}.weights")
        report = import_checkpoint(raw, model, spec["weights"].get("key_prefix", ""), spec["weights"].get("rename"))
    finally:
        raw.unlink(missing_ok=True)
    save_model(a.out, model, backbone=spec["backbone"], backbone_args=bargs,
               input_spec=spec["input"], meta={"origin": spec["weights"].get("url") or spec["weights"].get("path"),
                                               "source_sha256": spec["weights"].get("sha256"), **report})
    print(f"{a.name}: {report['tensors']} tensors, {report['parameters']} parameters imported")


def cmd_embed(a):
    from facebench import runtime
    from facebench.embed import embed_store

    runtime.keep_freed_memory()
    runtime.set_threads(a.threads)
    meta = embed_store(a.model, a.store, a.out, batch_size=a.batch_size, device=runtime.pick_device(a.device),
                       images=_lines(a.images) if a.images else None)
    print(json.dumps(meta))


def cmd_train(a):
    from facebench import runtime
    from facebench.train.loop import train_model

    runtime.keep_freed_memory()
    runtime.set_threads(a.threads)
    runtime.flush_denormals()
    summary = train_model(a.name, a.spec, store_dir=a.store, train_list=a.train_list, model_out=a.out,
                          log_out=a.log, summary_out=a.summary, work_dir=a.work, init_model=a.init,
                          device=runtime.pick_device(a.device), val_store=a.val_store, val_pairs=a.val_pairs)
    if summary is not None:  # under torchrun, rank 0's
        print(json.dumps(summary))


def cmd_tsne(a):
    from facebench import runtime
    from facebench.analysis.tsne import tsne_identities

    runtime.set_threads(a.threads)
    meta = tsne_identities(a.model, a.store, a.train_list, a.out, n_identities=a.identities, seed=a.seed)
    print(json.dumps(meta))


def cmd_degrade(a):
    from facebench.align import degrade_store

    print(json.dumps(degrade_store(a.source, a.out, a.size)))


def cmd_kernels(a):
    from facebench.analysis.kernels import kernel_summary

    print(json.dumps(kernel_summary(a.model, a.out)))


def cmd_embedding_stats(a):
    from facebench.analysis.embedding_stats import embedding_stats
    from facebench.io import load_npz, read_json

    paths, ids = _identification(a.identification)
    threshold = read_json(a.threshold_from)["threshold"]  # the model's own verification threshold (cosine)
    result = embedding_stats(load_npz(a.embeddings), paths, ids, threshold=threshold, seed=a.seed,
                             max_pairs=a.max_pairs)
    result["threshold_from"] = str(a.threshold_from)
    _finish(result, a, a.embeddings, a.identification, a.threshold_from)


def cmd_compare_scorers(a):
    from facebench.data.protocols import read_pairs_tsv
    from facebench.evaluate.scorers import compare_scorers
    from facebench.io import load_npz

    result = compare_scorers(load_npz(a.embeddings), read_pairs_tsv(a.pairs), scorers=a.scorers, seed=a.seed,
                             n_pairs=a.n_pairs)
    _finish(result, a, a.embeddings, a.pairs)


def cmd_cpd(a):
    from facebench.analysis.cpd import embedding_gap
    from facebench.io import load_npz, rows_of

    high, low = load_npz(a.high), load_npz(a.degraded)
    rows = rows_of(low["paths"].tolist(), high["paths"].tolist(),
                   lambda n, first: f"{a.degraded}: {n} image(s) of {a.high} have no embedding, e.g. {first}")
    ok = (high["status"] != "failed") & (low["status"][rows] != "failed")
    result = embedding_gap(high["features"][ok], low["features"][rows[ok]], points=a.points, seed=a.seed)
    result.update({"kind": "cpd", "dropped_failed_faces": int((~ok).sum())})
    _finish(result, a, a.high, a.degraded)


def _identification(path) -> tuple[list[str], list[str]]:
    """The paths and identities of an identification list (TSV with columns path, identity)."""
    from facebench.io import read_tsv

    header, rows = read_tsv(path, expect=["path", "identity"])
    return [r[header.index("path")] for r in rows], [r[header.index("identity")] for r in rows]


def _add_provenance(result: dict, meta: dict | None, *inputs) -> None:
    """Merge the rule's provenance (``--meta``), the sha256 of the files it read, the code version and the package
    versions into a result."""
    if meta:
        from facebench.report.provenance import git_version, package_versions

        result.update(meta)
        prov = result.setdefault("provenance", {})
        prov["inputs"] = _provenance_inputs(*inputs)
        prov["code"] = git_version()
        prov["packages"] = package_versions()


def _finish(result: dict, a, *inputs) -> None:
    """Add the provenance to an analysis result and write it."""
    from facebench.io import write_json

    _add_provenance(result, a.meta, *inputs)
    write_json(a.out, result)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (dict, list))}))


# ---------------------------------------------------------------- evaluation
def _score(embeddings, pairs: str, features: str, out: str) -> None:
    from facebench.data.protocols import read_pairs_tsv
    from facebench.evaluate.scores import score_pairs, write_scores

    s = score_pairs(embeddings, read_pairs_tsv(pairs), features)
    write_scores(out, s)
    print(f"{len(s['score'])} pairs scored ({features}), {s['dropped']} dropped for failed faces")


def cmd_score_pairs(a):
    from facebench.io import load_npz

    _score(load_npz(a.embeddings), a.pairs, a.features, a.out)


def _provenance_inputs(*paths) -> dict:
    from facebench.io import sha256_file

    return {str(p): sha256_file(p) for p in paths if p}


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
    _add_provenance(result, meta, *inputs, scores, protocol_summary)
    if roc_out:
        from facebench.io import save_npz

        save_npz(roc_out, fpr=roc["fpr"], tpr=roc["tpr"], threshold=roc["threshold"], correct=correct)
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
            meta = _with_config(a.meta, features=features, threshold_search=search)
            base = a.metrics.format(features=features, search=search)
            text = _evaluate(scores, search=search, far=a.far, folds=None, meta=meta,
                             protocol_summary=a.protocol_summary, out=f"{base}.json", roc_out=f"{base}.roc.npz",
                             inputs=(a.embeddings, a.pairs), intervals=True)
            summary = json.loads(text)
            print(f"{features} {search}: accuracy {summary['accuracy']:.4f}, AUC {summary['auc']:.4f} -> {base}.json")


def _with_config(meta: dict | None, **values) -> dict:
    """A copy of a rule's --meta whose provenance config also records ``values`` (one output's feature mode, ...)."""
    meta = dict(meta or {})
    prov = dict(meta.get("provenance", {}))
    prov["config"] = {**prov.get("config", {}), **values}
    meta["provenance"] = prov
    return meta


def cmd_rank(a):
    """Rank-N and all-pairs AUC for each feature mode, one file each (``--out`` has a {features} field)."""
    from facebench.evaluate.identification import all_pairs_auc, rank_n
    from facebench.evaluate.scores import features
    from facebench.io import load_npz, rows_of, write_json

    emb = load_npz(a.embeddings)
    paths, ids = _identification(a.identification)
    idx = rows_of(emb["paths"].tolist(), paths, lambda n, first: f"{a.identification}: {n} image(s) have no "
                                                                 f"embedding in {a.embeddings}, e.g. {first}").tolist()
    failed = [i for i in idx if emb["status"][i] == "failed"]
    keep = [k for k, i in enumerate(idx) if emb["status"][i] != "failed"]
    for mode in a.features:
        f = features(emb, mode)[[idx[k] for k in keep]]
        result = rank_n(f, [ids[k] for k in keep])
        result.update(all_pairs_auc(f, [ids[k] for k in keep]))
        result.update({"features": mode, "dropped_failed_faces": len(failed),
                       "protocol": "closed set, leave-one-out: each image a probe against all other images"})
        _add_provenance(result, _with_config(a.meta, features=mode), a.embeddings, a.identification)
        write_json(a.out.format(features=mode), result)
        print(json.dumps(result))


# ---------------------------------------------------------------- report
def cmd_report(a):
    from facebench.report.build import build_report

    build_report(a.metrics, published=a.published, template=a.template, spec=a.spec, out=a.out,
                 manifest_out=a.manifest, studies=a.studies, training=a.training, tsne=a.tsne,
                 analysis=a.analysis, published_roc=a.published_roc)
    print(f"report written to {a.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facebench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("fetch-dataset", cmd_fetch_dataset, "download/verify a dataset's images and protocol files")
    sp.add_argument("name")
    sp.add_argument("--spec", type=_json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--out", required=True, help="folder for the manifest and the verified files")

    sp = add("pairs-protocol", cmd_pairs_protocol, "one verification protocol as a pairs TSV with folds")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=_json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--protocol", required=True, help="a key of the dataset's verification mapping")
    sp.add_argument("--out", required=True)

    sp = add("identification-protocol", cmd_identification_protocol, "the closed-set identification image list")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=_json_arg, required=True)
    sp.add_argument("--out", required=True)

    sp = add("training-set", cmd_training_set, "the training list (path, identity) of a dataset")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=_json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--out", required=True)

    sp = add("image-list", cmd_image_list, "the union of the images some protocol file names")
    sp.add_argument("protocol_files", nargs="+")
    sp.add_argument("--out", required=True)

    sp = add("landmarks-provided", cmd_landmarks_provided, "landmarks from a provided file, in each image's frame")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--source", default="provided", help="which of the dataset's landmark files")
    sp.add_argument("--images", required=True, help="file with one image path per line")
    sp.add_argument("--frame", type=float, nargs=2, default=(250, 250), metavar=("W", "H"))
    sp.add_argument("--out", required=True)
    sp.add_argument("--summary")

    sp = add("landmarks", cmd_landmarks, "detect 5-point landmarks with MTCNN: one line per image, with a flag")
    sp.add_argument("image_dir", nargs="?", help="folder of images (or give --manifest)")
    sp.add_argument("--manifest", help="a dataset manifest; its images_root is the image folder")
    sp.add_argument("--list", help="file with one image path per line, relative to the folder (default: all images)")
    sp.add_argument("-o", "--out", required=True, help="landmark TSV: path x1 y1 ... x5 y5 flag")
    sp.add_argument("--summary", help="JSON with counts and the reason for every image without landmarks")
    sp.add_argument("--weights", required=True, help="folder with pnet.pt, rnet.pt, onet.pt")
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--batch-size", type=int, default=64, help="images per batch (same-size images share a pass)")
    sp.add_argument("--min-face-size", type=int, default=20)
    sp.add_argument("--factor", type=float, default=0.709, help="pyramid scale factor")
    sp.add_argument("--thresholds", type=float, nargs=3, default=(0.6, 0.7, 0.7), metavar=("P", "R", "O"))
    sp.add_argument("--select", choices=["central", "largest"], default="central",
                    help="which face when several are found")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda")

    sp = add("landmark-agreement", cmd_landmark_agreement, "detected vs reference landmarks, with a figure")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--images", required=True)
    sp.add_argument("--detected", required=True)
    sp.add_argument("--detected-summary", required=True)
    sp.add_argument("--reference", required=True)
    sp.add_argument("--reference-name", default="provided")
    sp.add_argument("--frame", type=float, nargs=2, default=(250, 250), metavar=("W", "H"))
    sp.add_argument("--examples", nargs="*", default=[], help="images to draw (default: the first two)")
    sp.add_argument("--figure", required=True)
    sp.add_argument("--out", required=True)

    sp = add("fetch-file", cmd_fetch_file, "fetch one file (URL or local path) and verify its sha256")
    sp.add_argument("--spec", type=_json_arg, required=True, help="the source mapping {url|path, sha256}, as JSON")
    sp.add_argument("--key", required=True, help="its config key, for error messages")
    sp.add_argument("--out", required=True)

    sp = add("align", cmd_align, "align faces into a decode-free store")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--images", required=True)
    sp.add_argument("--method", choices=["landmarks", "center"], required=True)
    sp.add_argument("--landmarks")
    sp.add_argument("--template", required=True)
    sp.add_argument("--frame", type=int, nargs=2, default=(250, 250), metavar=("W", "H"))
    sp.add_argument("--on-error", choices=["fail", "skip"], default="fail")
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--out", required=True)

    sp = add("import-weights", cmd_import_weights, "import a published checkpoint into the project's model format")
    sp.add_argument("name")
    sp.add_argument("--spec", type=_json_arg, required=True, help="the model's config mapping, as JSON")
    sp.add_argument("--out", required=True)

    sp = add("train", cmd_train, "train one model of config (backbone + loss) on a dataset's aligned faces")
    sp.add_argument("name", help="the model's key in config (models.NAME)")
    sp.add_argument("--spec", type=_json_arg, required=True, help="the model's config mapping, as JSON")
    sp.add_argument("--store", required=True, help="the aligned-face store of the training dataset")
    sp.add_argument("--train-list", required=True, help="TSV with columns path, identity")
    sp.add_argument("--init", help="a model file whose weights start the backbone, and the head where its classes "
                                   "match (fine-tuning)")
    sp.add_argument("--val-store", help="validation after every epoch: the aligned-face store holding the pairs' faces")
    sp.add_argument("--val-pairs", help="validation after every epoch: the pairs TSV (fold path1 path2 label)")
    sp.add_argument("--out", required=True, help="the trained model file")
    sp.add_argument("--log", required=True, help="per-step TSV log")
    sp.add_argument("--summary", required=True, help="JSON summary of the run")
    sp.add_argument("--work", required=True, help="folder for the resumable state")
    sp.add_argument("--threads", type=int, help="torch threads (of each process, under torchrun)")
    sp.add_argument("--device", default="auto")

    sp = add("tsne", cmd_tsne, "t-SNE of a few training identities' embeddings by one model")
    sp.add_argument("--model", required=True)
    sp.add_argument("--store", required=True, help="the aligned-face store the model trained on")
    sp.add_argument("--train-list", required=True)
    sp.add_argument("--identities", type=int, default=10)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--threads", type=int)
    sp.add_argument("--out", required=True)

    sp = add("degrade", cmd_degrade, "a store of a store's faces shrunk to SIZE px and enlarged back (HR -> LR -> HR)")
    sp.add_argument("--source", required=True, help="the high-resolution aligned-face store")
    sp.add_argument("--size", type=int, required=True, help="the longer side of the low-resolution face, px")
    sp.add_argument("--out", required=True)

    sp = add("kernels", cmd_kernels, "the first convolution's kernels of a model, for the report's kernel grid")
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", required=True, help=".npz with the weights and a summary")

    sp = add("embedding-stats", cmd_embedding_stats,
             "intra- vs inter-identity cosine distances and clustering of the identification images' embeddings")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--identification", required=True, help="TSV with columns path, identity")
    sp.add_argument("--threshold-from", required=True, help="a metrics JSON whose threshold cuts the clustering")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--max-pairs", type=int, default=50000, help="cap on same-identity pairs (seeded sample)")
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)

    sp = add("compare-scorers", cmd_compare_scorers,
             "every verification scorer (cosine, euclidean, chi2-svm, weighted-l1, joint-bayesian) on one protocol")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--pairs", required=True, help="the protocol's pairs TSV (its folds are used)")
    sp.add_argument("--scorers", nargs="+", default=["cosine", "euclidean", "chi2-svm", "weighted-l1",
                                                     "joint-bayesian"])
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--n-pairs", type=int, default=20000, help="training pairs per fold for the learned scorers")
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)

    sp = add("cpd", cmd_cpd, "Coherent Point Drift between high-resolution and degraded embeddings of the same faces")
    sp.add_argument("--high", required=True, help="embeddings of the high-resolution store")
    sp.add_argument("--degraded", required=True, help="embeddings of the degraded store (same images)")
    sp.add_argument("--points", type=int, default=1000, help="faces subsampled with the seed (CPD is O(N^2))")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into the output")
    sp.add_argument("--out", required=True)

    sp = add("embed", cmd_embed, "features (and flipped features) for every face of a store")
    sp.add_argument("--model", required=True)
    sp.add_argument("--store", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--batch-size", type=int, default=16)
    sp.add_argument("--threads", type=int)
    sp.add_argument("--device", default="auto")
    sp.add_argument("--images", help="embed only these images of the store (one path per line)")

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
    sp.add_argument("--far", type=float, nargs="+", default=[1e-3, 1e-2], help="FARs for TAR@FAR")
    sp.add_argument("--out", help="also write the JSON here")
    sp.add_argument("--roc", help="write the ROC points (and per-pair correctness) to this .npz")
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into the output (the pipeline's provenance)")
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
    sp.add_argument("--far", type=float, nargs="+", default=[1e-3, 1e-2], help="FARs for TAR@FAR")
    sp.add_argument("--scores", required=True, help="score file path with a {features} field")
    sp.add_argument("--metrics", required=True,
                    help="metrics path without extension, with {features} and {search} fields (.json and .roc.npz)")
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into each metrics file (its provenance)")

    sp = add("rank", cmd_rank, "closed-set rank-1/rank-5 identification")
    sp.add_argument("--embeddings", required=True)
    sp.add_argument("--identification", required=True)
    sp.add_argument("--features", nargs="+", choices=["plain", "flip-concat", "flip-sum"], default=["plain"])
    sp.add_argument("--meta", type=_json_arg, help="JSON object merged into each output")
    sp.add_argument("--out", required=True, help="output path; a {features} field names one file per feature mode")

    sp = add("report", cmd_report, "render report/index.html from the metrics files")
    sp.add_argument("metrics", nargs="*", help="metrics JSON files written by eval-pairs and rank")
    sp.add_argument("--studies", nargs="*", default=[], help="landmark-agreement JSON files (with their figures)")
    sp.add_argument("--training", nargs="*", default=[], help="training summary JSON files (log.tsv beside each)")
    sp.add_argument("--tsne", nargs="*", default=[], help="t-SNE files of trained models")
    sp.add_argument("--analysis", nargs="*", default=[],
                    help="analysis outputs: scorers, embedding-stats, cpd (JSON) and kernels (.npz)")
    sp.add_argument("--published", required=True, help="the published values (YAML)")
    sp.add_argument("--published-roc", nargs="*", default=[],
                    help="published LFW ROC files (text) to overlay, dashed, on the ROC figure")
    sp.add_argument("--template", required=True, help="the jinja2 template")
    sp.add_argument("--spec", type=_json_arg, required=True, help="title and profile, as JSON")
    sp.add_argument("--out", required=True)
    sp.add_argument("--manifest")
    return p


USER_ERRORS = (ValueError, KeyError, FileNotFoundError, PermissionError)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except USER_ERRORS as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"facebench {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if not hasattr(err, "exit_code"):  # only the run-stopping conditions that carry their own message
            raise
        print(f"facebench {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
