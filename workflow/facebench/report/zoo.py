"""The model zoo table: public pretrained models evaluated here beside their authors' published LFW figure.

``report/published.yaml`` lists the zoo under ``zoo.models``: each entry names a config model key, its source, the
published accuracy, the protocol the authors state, and ``features`` (how they scored: ``plain``, ``flip-concat`` or
``flip-sum``). A row is one (model, alignment) this profile evaluated on the entry's dataset and protocol; its
difference is ours minus published on the same features, so a model whose authors averaged the mirror image is not
compared on single-face features. A model the profile did not run is listed as not run.
"""
from __future__ import annotations

from collections.abc import Callable

from facebench.templates import TEMPLATES

FAR = "0.001"  # the TAR@FAR column: the operating point face verification papers quote beside LFW accuracy


def crop_label(alignment: dict, model: dict) -> str:
    """What the network saw, in words: how the face was cut and at which size."""
    method = alignment.get("method")
    inp = model.get("input", {})
    if method == "landmarks":
        cut = f"{alignment.get('landmarks')} landmarks, similarity warp to {inp.get('template')}"
    elif method == "box":
        cut = f"{alignment.get('landmarks')} box + {alignment.get('margin', 0)} px margin, {alignment.get('size')} px"
    elif method == "center":
        cut = f"centre crop at {inp.get('template')}"
    elif method == "degrade":
        cut = f"{alignment.get('source')} faces degraded to {alignment.get('size')} px"
    else:
        cut = str(method)
    size, crop = inp.get("size"), _crop_size(alignment, inp.get("template"))
    return cut + (f", resized to {size[0]}x{size[1]}" if size and list(size) != crop else "")


def _crop_size(alignment: dict, template: str | None) -> list[int] | None:
    """[h, w] of the stored crop: a box alignment's size, else the template's."""
    if alignment.get("method") == "box":
        return [alignment.get("size"), alignment.get("size")]
    if template in TEMPLATES:
        w, h = TEMPLATES[template]["size"]
        return [h, w]
    return None


def zoo_table(published: dict, verif: dict, ranks: dict, *, seed: tuple[str, str],
              protocol_label: Callable[[dict], str]) -> dict | None:
    """The table's rows (see the module's doc), or None when published.yaml has no zoo. ``verif`` and ``ranks`` are
    the metrics files by (model, dataset, alignment, protocol, features, search) and (model, dataset, alignment,
    features); ``seed`` is the seed protocol's (features, search)."""
    zoo = published.get("zoo")
    if not zoo:
        return None
    features, search = seed
    rows = []
    for entry in zoo["models"]:
        src = published["sources"][entry["source"]]
        dataset, protocol = entry.get("dataset", "lfw"), entry.get("verification", "view2")
        scored = entry.get("features", "plain")
        pub = entry["published"]["accuracy"]
        base = {"model": entry["model"], "source": src["title"], "url": src.get("url"), "published": pub,
                "published_protocol": entry["protocol"], "features": scored}
        runs = sorted(k[2] for k in verif if k[:2] == (entry["model"], dataset) and k[3:] == (protocol, *seed))
        if not runs:
            rows.append({**base, "run": False, "label": entry["model"]})
            continue
        for alignment in runs:
            key = (entry["model"], dataset, alignment, protocol)
            m = verif[(*key, features, search)]
            spec = m["provenance"]["config"]
            as_published = verif.get((*key, scored, search))
            ours = None if as_published is None else as_published["accuracy"]
            rank = ranks.get((entry["model"], dataset, alignment, features))
            flip = verif.get((*key, "flip-concat", search))
            rows.append({
                **base, "run": True, "label": spec.get("model_spec", {}).get("label") or entry["model"],
                "licence": spec.get("model_spec", {}).get("licence"),
                "crop": crop_label(spec.get("alignment_spec", {}), spec.get("model_spec", {})),
                "protocol": protocol_label(m), "accuracy": m["accuracy"], "accuracy_ci": m.get("accuracy_ci"),
                "acc_flip": None if flip is None else flip["accuracy"], "ours_as_published": ours,
                "diff": None if ours is None else ours - pub, "auc": m["auc"], "tar": m["tar_at_far"].get(FAR),
                "rank1": None if rank is None else rank["rank1"], "file": m["_path"],
            })
    return {"title": zoo["title"], "note": zoo.get("note", ""), "far": FAR, "rows": rows}
