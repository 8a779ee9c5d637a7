"""``facebench`` commands for landmarks: a provided file scaled to the images, MTCNN detection, and their agreement."""
from __future__ import annotations

import json
from pathlib import Path

from facebench import schema
from facebench.cli.common import read_lines, read_manifest


def cmd_landmarks_provided(a):
    from facebench import landmarks
    from facebench.data import formats
    from facebench.io import write_json

    manifest = read_manifest(a.manifest)
    key = f"landmarks-{a.source}"
    if key not in manifest["files"]:
        raise KeyError(f"datasets.{manifest['dataset']}.landmarks.{a.source}: not configured for this dataset")
    images = read_lines(a.images)
    source = formats.get(manifest.get("format")).read_landmarks(manifest["files"][key]["path"], images)
    table, counts = landmarks.from_provided(source, tuple(a.frame), manifest["images_root"], images)
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
    root = Path(a.image_dir) if a.image_dir else Path(read_manifest(a.manifest)["images_root"])
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such image folder")
    names = read_lines(a.list) if a.list else _image_files(root)
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
    table, summary = landmark_images(root, names, detector, batch_size=a.batch_size, threads=a.threads,
                                     decoders=a.decoders)
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

    root = Path(read_manifest(a.manifest)["images_root"])
    names = read_lines(a.images)
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
                       "dataset": read_manifest(a.manifest)["dataset"], "images": len(names), **result,
                       "detector": {k: summary[k] for k in ("counts", "select", "settings", "not_ok")},
                       "figure": str(a.figure), "examples": shown})
    print(json.dumps(result.get("distance", {})))


def register(add) -> None:
    sp = add("landmarks-provided", cmd_landmarks_provided, "landmarks from a provided file, in each image's frame")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--source", default="provided", help="which of the dataset's landmark files")
    sp.add_argument("--images", required=True, help="file with one image path per line")
    sp.add_argument("--frame", type=float, nargs=2, default=schema.default("datasets.*.frame"), metavar=("W", "H"))
    sp.add_argument("--out", required=True)
    sp.add_argument("--summary")

    sp = add("landmarks", cmd_landmarks, "detect 5-point landmarks with MTCNN: one line per image, with a flag")
    sp.add_argument("image_dir", nargs="?", help="folder of images (or give --manifest)")
    sp.add_argument("--manifest", help="a dataset manifest; its images_root is the image folder")
    sp.add_argument("--list", help="file with one image path per line, relative to the folder (default: all images)")
    sp.add_argument("-o", "--out", required=True,
                    help="landmark TSV: path x1 y1 ... x5 y5 flag bx1 by1 bx2 by2 (the last four: the face's box)")
    sp.add_argument("--summary", help="JSON with counts and the reason for every image without landmarks")
    sp.add_argument("--weights", required=True, help="folder with pnet.pt, rnet.pt, onet.pt")
    sp.add_argument("--threads", type=int, default=schema.default("detect.mtcnn.threads"))
    sp.add_argument("--batch-size", type=int, default=schema.default("detect.mtcnn.batch_size"),
                    help="images per batch (same-size images share a pass)")
    sp.add_argument("--min-face-size", type=int, default=schema.default("detect.mtcnn.min_face_size"))
    sp.add_argument("--factor", type=float, default=schema.default("detect.mtcnn.factor"), help="pyramid scale factor")
    sp.add_argument("--thresholds", type=float, nargs=3, default=schema.default("detect.mtcnn.thresholds"),
                    metavar=("P", "R", "O"))
    sp.add_argument("--select", choices=["central", "largest"], default=schema.default("detect.mtcnn.select"),
                    help="which face when several are found")
    sp.add_argument("--device", default=schema.default("detect.mtcnn.device"), help="auto | cpu | cuda")
    sp.add_argument("--decoders", type=int, help="threads decoding images ahead of the detector (default: none on "
                    "CPU, where each stream decodes its own chunk; max(2, --threads) on a GPU)")

    sp = add("landmark-agreement", cmd_landmark_agreement, "detected vs reference landmarks, with a figure")
    sp.add_argument("--manifest", required=True)
    sp.add_argument("--images", required=True)
    sp.add_argument("--detected", required=True)
    sp.add_argument("--detected-summary", required=True)
    sp.add_argument("--reference", required=True)
    sp.add_argument("--reference-name", default="provided")
    sp.add_argument("--frame", type=float, nargs=2, default=schema.default("datasets.*.frame"), metavar=("W", "H"))
    sp.add_argument("--examples", nargs="*", default=[], help="images to draw (default: the first two)")
    sp.add_argument("--figure", required=True)
    sp.add_argument("--out", required=True)
