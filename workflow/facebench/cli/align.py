"""``facebench`` commands for aligned-face stores: faces cut by landmarks, a centre crop or the detector's box, the
faces an insightface .bin gives aligned, degraded copies."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import read_lines, read_manifest


def cmd_align(a):
    from facebench import align, landmarks, templates
    from facebench.data.formats import BIN

    manifest = read_manifest(a.manifest)
    given = manifest.get("format") == BIN
    if given != (a.method == "given"):
        raise ValueError(f"--method {a.method}: dataset {manifest['dataset']} is of format "
                         f"{manifest.get('format', 'lfw')}; method given is for insightface .bin datasets (their faces "
                         "come aligned), and their faces are never cut again")
    if given:
        if a.landmarks or a.margin is not None or a.size is not None:
            raise ValueError("--method given takes no --landmarks, --margin or --size (the .bin's faces come aligned)")
        summary = align.build_given_store(manifest["files"]["bin"]["path"], read_lines(a.images), a.out,
                                          tpl=align.template(a.template), on_error=a.on_error, threads=a.threads)
        print(json.dumps(summary))
        return
    if a.method == "box":
        if a.template != templates.BOX:
            raise ValueError(f"--method box cuts faces for template {templates.BOX!r}, not {a.template!r}")
        if a.margin is None or a.size is None:
            raise ValueError("--method box needs --margin and --size (alignments.<name>.margin and .size)")
    elif a.margin is not None or a.size is not None:
        raise ValueError(f"--margin and --size are options of --method box, not {a.method}")
    if a.method != "center" and not a.landmarks:
        raise ValueError(f"--method {a.method} needs --landmarks")
    table = landmarks.read(a.landmarks) if a.landmarks else None
    tpl = None if a.method == "box" else align.template(a.template)
    summary = align.build_store(manifest["images_root"], read_lines(a.images), a.out, tpl=tpl, method=a.method,
                                landmarks=table, frame=tuple(a.frame), on_error=a.on_error, threads=a.threads,
                                margin=a.margin, size=a.size)
    print(json.dumps(summary))


def cmd_degrade(a):
    from facebench.resolution import degrade_store

    print(json.dumps(degrade_store(a.source, a.out, a.size)))


def register(add) -> None:
    sp = add("align", cmd_align, "align faces into a decode-free store")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--images", required=True)
    sp.add_argument("--method", choices=["landmarks", "center", "box", "given"], required=True)
    sp.add_argument("--landmarks", help="landmark TSV (method landmarks; method box: one with the detector's boxes)")
    sp.add_argument("--template", required=True, help="a warp template, or box (method box)")
    sp.add_argument("--margin", type=int, help="method box: pixels of the crop around the detector's box")
    sp.add_argument("--size", type=int, help="method box: the crop's side, px")
    sp.add_argument("--frame", type=int, nargs=2, default=schema.default("datasets.*.frame"), metavar=("W", "H"))
    sp.add_argument("--on-error", choices=["fail", "skip"], default=schema.default("align.on_error"))
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--out", required=True)

    sp = add("degrade", cmd_degrade, "a store of a store's faces shrunk to SIZE px and enlarged back (HR -> LR -> HR)")
    sp.add_argument("--source", required=True, help="the high-resolution aligned-face store")
    sp.add_argument("--size", type=int, required=True, help="the longer side of the low-resolution face, px")
    sp.add_argument("--out", required=True)
