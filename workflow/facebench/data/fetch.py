"""Make a dataset available: images and protocol files from URLs, local paths or packages, verified, with a manifest.

The manifest (``manifest.json``) is the one file later stages read to find a dataset: where its images are, and
the verified copies of its protocol and landmark files with their sha256. Images from a local folder are used in
place (never copied); images from an archive (URL or local file) are downloaded, checked and extracted safely.

The dataset's ``format`` (facebench.data.formats; default lfw) says how its images are named and what a landmark
source is: a file (LFW: copied and checked like a protocol file) or a folder of per-image files (CALFW: a local
folder used in place, or an archive extracted like the images; pinned by ``tree_sha256``, recorded in the manifest).
An insightface ``.bin`` (format ``insightface-bin``) is one file, ``file``: copied and checked, read once here (so a
file that is not such a set fails at the first job), its images listed by index; no images folder, no landmarks.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from facebench.data import formats
from facebench.data.download import fetch, origin, verify
from facebench.data.extract import extract
from facebench.io import sha256_file, write_json, write_text


def tree_sha256(root: str | Path, files: list[str]) -> str:
    """One digest of a folder's content: sha256 over the sorted lines '<relative path>\\t<sha256 of the file>'."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\t{sha256_file(Path(root) / rel)}\n".encode())
    return h.hexdigest()


def _folder(spec: dict, work: Path, key: str, target: str, extracted: dict[Path, Path]) -> tuple[Path, str]:
    """Return (folder, description of the origin) for a source that is a folder or an archive holding one;
    ``extracted`` maps archives already extracted in this run to their folder, so one archive serving the images
    and the landmarks is fetched and extracted once."""
    if "path" in spec and Path(spec["path"]).is_dir():
        return Path(spec["path"]).resolve(), f"local folder {spec['path']}"
    if "path" in spec and not Path(spec["path"]).exists():
        raise FileNotFoundError(f"{key}.path: {spec['path']} does not exist")
    if not {"url", "path", "pip"} & set(spec):
        raise ValueError(f"{key}: give 'url' or 'pip' (an archive) or 'path' (a folder or an archive)")
    named = Path(spec.get("url") or spec.get("path") or re.sub(r"[^A-Za-z0-9._-]+", "_", spec["pip"])).name
    archive = work / "downloads" / (spec.get("filename") or named or "archive")
    if archive not in extracted:
        if archive.exists() and spec.get("sha256"):
            verify(archive, spec["sha256"], key=key, origin=str(archive))  # a kept download is reused only if whole
        else:
            fetch(spec, archive, key=key)
        extracted[archive] = extract(archive, work / target, max_members=spec.get("max_members", 1_000_000))
    elif spec.get("sha256"):
        verify(archive, spec["sha256"], key=key, origin=str(archive))  # the same name must be the same archive
    root = extracted[archive] / spec["subdir"] if spec.get("subdir") else extracted[archive]
    if not root.is_dir():
        raise FileNotFoundError(f"{key}.subdir: {spec.get('subdir')!r} is not a folder inside {archive}")
    return root.resolve(), origin(spec)


def _checked_tree(root: Path, files: list[str], spec: dict, key: str, what: str) -> str:
    """The folder's tree digest, compared with the configured ``tree_sha256`` when there is one."""
    digest = tree_sha256(root, files)
    expected = spec.get("tree_sha256")
    if expected and digest != expected:
        raise ValueError(f"{key}.tree_sha256: the {what} under {root} digest to {digest}, config expects {expected}")
    return digest


def _landmark_folder(spec: dict, work: Path, key: str, source: str, extracted: dict[Path, Path]) -> dict:
    """A per-image landmark folder (CALFW ``*_5loc_attri.txt``): located, digested, recorded (never copied)."""
    root, origin = _folder(spec, work, key, f"extracted-landmarks-{source}", extracted)
    names = sorted(p.name for p in root.glob("*_5loc_attri.txt"))
    if not names:
        raise FileNotFoundError(f"{key}: no <image stem>_5loc_attri.txt files under {root}")
    return {"path": root.as_posix(), "tree_sha256": _checked_tree(root, names, spec, key, "landmark files"),
            "n_files": len(names), "origin": origin}


def _file(spec: dict, dest: Path, key: str) -> dict:
    fetch(spec, dest, key=key)
    return {"path": dest.as_posix(), "sha256": sha256_file(dest), "origin": origin(spec)}


def fetch_dataset(name: str, spec: dict, out_dir: str | Path) -> dict:
    """Fetch everything dataset ``name`` needs into ``out_dir`` and write ``out_dir/manifest.json``."""
    out_dir = Path(out_dir)
    key = f"datasets.{name}"
    fmt = formats.get(spec.get("format"), f"{key}.format")
    if fmt.name == formats.BIN:
        return _fetch_bin(name, spec, out_dir, key)
    extracted: dict[Path, Path] = {}
    root, origin = _folder(spec["images"], out_dir, f"{key}.images", "extracted", extracted)
    try:
        images = fmt.list_images(root)
    except ValueError as err:
        raise ValueError(f"{key}.images: {err}") from None
    if not images:
        raise FileNotFoundError(f"{key}.images: no {fmt.layout} images under {root} (format {fmt.name})")
    digest = _checked_tree(root, images, spec["images"], f"{key}.images", "images")
    files = {fkey: _file(fspec, out_dir / "files" / f"{fkey}.txt", f"{key}.files.{fkey}")
             for fkey, fspec in spec.get("files", {}).items()}
    for source, lspec in spec.get("landmarks", {}).items():
        lkey = f"{key}.landmarks.{source}"
        files[f"landmarks-{source}"] = (
            _landmark_folder(lspec, out_dir, lkey, source, extracted) if fmt.landmarks == "folder"
            else _file(lspec, out_dir / "files" / f"landmarks-{source}.txt", lkey))
    listing = out_dir / "images.txt"
    write_text(listing, "".join(f"{p}\n" for p in images))
    manifest = {"dataset": name, "format": fmt.name, "images_root": str(root), "images_origin": origin,
                "n_images": len(images), "images_list": listing.as_posix(), "images_tree_sha256": digest,
                "files": files}
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def _fetch_bin(name: str, spec: dict, out_dir: Path, key: str) -> dict:
    """An insightface .bin: the verified copy (``files.bin``), its images listed as ``000000.jpg``... by index."""
    from facebench.data import insightface_bin

    if "file" not in spec:
        raise ValueError(f"{key}.file: format {formats.BIN} needs the .bin file (a source: path or url, sha256)")
    entry = _file(spec["file"], out_dir / "files" / "bin.bin", f"{key}.file")
    bins, flags = insightface_bin.read(entry["path"])
    images = insightface_bin.image_names(len(bins))
    listing = out_dir / "images.txt"
    write_text(listing, "".join(f"{p}\n" for p in images))
    manifest = {"dataset": name, "format": formats.BIN, "images_root": None, "images_origin": entry["origin"],
                "n_images": len(images), "n_pairs": len(flags), "same": sum(flags), "images_list": listing.as_posix(),
                "images_tree_sha256": None, "files": {"bin": entry}}
    write_json(out_dir / "manifest.json", manifest)
    return manifest
