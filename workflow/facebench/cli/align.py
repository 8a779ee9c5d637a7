"""``facebench`` commands for aligned-face stores: faces cut by landmarks or a centre crop, degraded copies."""
from __future__ import annotations

import json

from facebench import schema
from facebench.cli.common import read_lines, read_manifest


def cmd_align(a):
    from facebench import align, landmarks

    manifest = read_manifest(a.manifest)
    table = landmarks.read(a.landmarks) if a.landmarks else None
    summary = align.build_store(manifest["images_root"], read_lines(a.images), a.out, tpl=align.template(a.template),
                                method="center" if a.method == "center" else "landmarks", landmarks=table,
                                frame=tuple(a.frame), on_error=a.on_error, threads=a.threads)
    print(json.dumps(summary))


def cmd_degrade(a):
    from facebench.resolution import degrade_store

    print(json.dumps(degrade_store(a.source, a.out, a.size)))


def register(add) -> None:
    sp = add("align", cmd_align, "align faces into a decode-free store")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--images", required=True)
    sp.add_argument("--method", choices=["landmarks", "center"], required=True)
    sp.add_argument("--landmarks")
    sp.add_argument("--template", required=True)
    sp.add_argument("--frame", type=int, nargs=2, default=schema.default("datasets.*.frame"), metavar=("W", "H"))
    sp.add_argument("--on-error", choices=["fail", "skip"], default=schema.default("align.on_error"))
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--out", required=True)

    sp = add("degrade", cmd_degrade, "a store of a store's faces shrunk to SIZE px and enlarged back (HR -> LR -> HR)")
    sp.add_argument("--source", required=True, help="the high-resolution aligned-face store")
    sp.add_argument("--size", type=int, required=True, help="the longer side of the low-resolution face, px")
    sp.add_argument("--out", required=True)
