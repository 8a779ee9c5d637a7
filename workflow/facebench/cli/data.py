"""``facebench`` commands for datasets: fetch and verify, the protocol files, single files."""
from __future__ import annotations

import json

from facebench.cli.common import json_arg, read_lines, read_manifest


def cmd_fetch_dataset(a):
    from facebench.data.fetch import fetch_dataset

    m = fetch_dataset(a.name, a.spec, a.out)
    print(f"{a.name}: {m['n_images']} images at {m['images_root']}; {len(m['files'])} protocol file(s) verified")


def cmd_pairs_protocol(a):
    from facebench.data.protocols import pairs_source, write_pairs_protocol

    m = read_manifest(a.manifest)
    vspec = a.spec["verification"][a.protocol]
    summary = write_pairs_protocol(pairs_source(m, vspec, a.protocol), vspec, set(read_lines(m["images_list"])), a.out,
                                   on_missing=a.spec.get("on_missing_image", "fail"), subset=a.spec.get("subset"),
                                   fmt=m.get("format", "lfw"),
                                   where=f"datasets.{m['dataset']}.verification.{a.protocol}")
    print(json.dumps(summary))


def cmd_identification_protocol(a):
    from facebench.data.protocols import write_identification

    m = read_manifest(a.manifest)
    summary = write_identification(read_lines(m["images_list"]), a.spec["identification"], a.out,
                                   subset=a.spec.get("subset"), files=m["files"], fmt=m.get("format", "lfw"),
                                   split=a.spec.get("split"), dataset=m["dataset"])
    print(json.dumps(summary))


def cmd_training_set(a):
    from facebench.data.protocols import write_training_set

    m = read_manifest(a.manifest)
    summary = write_training_set(read_lines(m["images_list"]), a.spec["training"], m["files"], a.out, m["dataset"],
                                 fmt=m.get("format", "lfw"), split=a.spec.get("split"))
    print(json.dumps(summary))


def cmd_image_list(a):
    from facebench.data.protocols import write_image_list

    print(f"{write_image_list(a.protocol_files, a.out)} images needed")


def cmd_fetch_file(a):
    from facebench.data.download import fetch, origin

    path = fetch(a.spec, a.out, key=a.key)
    print(f"{a.key}: {origin(a.spec)} -> {path}")


def register(add) -> None:
    sp = add("fetch-dataset", cmd_fetch_dataset, "download/verify a dataset's images and protocol files")
    sp.add_argument("name")
    sp.add_argument("--spec", type=json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--out", required=True, help="folder for the manifest and the verified files")

    sp = add("pairs-protocol", cmd_pairs_protocol, "one verification protocol as a pairs TSV with folds")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--protocol", required=True, help="a key of the dataset's verification mapping")
    sp.add_argument("--out", required=True)

    sp = add("identification-protocol", cmd_identification_protocol, "the closed-set identification image list")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=json_arg, required=True)
    sp.add_argument("--out", required=True)

    sp = add("training-set", cmd_training_set, "the training list (path, identity) of a dataset")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--spec", type=json_arg, required=True, help="the dataset's config mapping, as JSON")
    sp.add_argument("--out", required=True)

    sp = add("image-list", cmd_image_list, "the union of the images some protocol file names")
    sp.add_argument("protocol_files", nargs="+")
    sp.add_argument("--out", required=True)

    sp = add("fetch-file", cmd_fetch_file, "fetch one file (URL, local path or pip package) and verify its sha256")
    sp.add_argument("--spec", type=json_arg, required=True,
                    help="the source mapping {url|path|pip, sha256[, member, member_sha256]}, as JSON")
    sp.add_argument("--key", required=True, help="its config key, for error messages")
    sp.add_argument("--out", required=True)
