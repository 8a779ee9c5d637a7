"""Make a dataset available: images and protocol files from URLs or local paths, verified, with a manifest.

The manifest (``manifest.json``) is the one file later stages read to find a dataset: where its images are, and
the verified copies of its protocol and landmark files with their sha256. Images from a local folder are used in
place (never copied); images from an archive (URL or local file) are downloaded, checked and extracted safely.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from facebench.data.download import fetch, verify
from facebench.data.extract import extract
from facebench.io import sha256_file, write_json, write_text


def tree_sha256(root: str | Path, files: list[str]) -> str:
    """One digest of a folder's content: sha256 over the sorted lines '<relative path>\\t<sha256 of the file>'."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\t{sha256_file(Path(root) / rel)}\n".encode())
    return h.hexdigest()


def _images(spec: dict, work: Path, key: str) -> tuple[Path, str]:
    """Return (images root, description of the origin)."""
    if "path" in spec and Path(spec["path"]).is_dir():
        return Path(spec["path"]).resolve(), f"local folder {spec['path']}"
    if "path" in spec and not Path(spec["path"]).exists():
        raise FileNotFoundError(f"{key}.path: {spec['path']} does not exist")
    if "url" not in spec and "path" not in spec:
        raise ValueError(f"{key}: give 'url' (an archive) or 'path' (a folder or an archive)")
    archive = work / "downloads" / (spec.get("filename") or Path(spec.get("url") or spec["path"]).name or "archive")
    if archive.exists() and spec.get("sha256"):
        verify(archive, spec["sha256"], key=key, origin=str(archive))  # a kept download is reused only if whole
    else:
        fetch(spec, archive, key=key)
    extracted = extract(archive, work / "extracted", max_members=spec.get("max_members", 1_000_000))
    root = extracted / spec["subdir"] if spec.get("subdir") else extracted
    if not root.is_dir():
        raise FileNotFoundError(f"{key}.subdir: {spec.get('subdir')!r} is not a folder inside {archive}")
    return root.resolve(), spec.get("url") or spec["path"]


def fetch_dataset(name: str, spec: dict, out_dir: str | Path) -> dict:
    """Fetch everything dataset ``name`` needs into ``out_dir`` and write ``out_dir/manifest.json``."""
    from facebench.data.lfw import list_images

    out_dir = Path(out_dir)
    key = f"datasets.{name}"
    root, origin = _images(spec["images"], out_dir, f"{key}.images")
    images = list_images(root)
    if not images:
        raise FileNotFoundError(f"{key}.images: no <Name>/<file>.jpg images under {root}")
    digest = tree_sha256(root, images)
    expected = spec["images"].get("tree_sha256")
    if expected and digest != expected:
        raise ValueError(f"{key}.images.tree_sha256: the images under {root} digest to {digest}, config expects "
                         f"{expected}")
    files = {}
    for fkey, fspec in {**spec.get("files", {}), **{f"landmarks-{k}": v for k, v in
                                                   spec.get("landmarks", {}).items()}}.items():
        dest = out_dir / "files" / f"{fkey}.txt"
        ckey = f"{key}.files.{fkey}" if not fkey.startswith("landmarks-") else \
            f"{key}.landmarks.{fkey.removeprefix('landmarks-')}"
        fetch(fspec, dest, key=ckey)
        files[fkey] = {"path": dest.as_posix(), "sha256": sha256_file(dest),
                       "origin": fspec.get("url") or fspec.get("path")}
    listing = out_dir / "images.txt"
    write_text(listing, "".join(f"{p}\n" for p in images))
    manifest = {"dataset": name, "images_root": str(root), "images_origin": origin, "n_images": len(images),
                "images_list": listing.as_posix(), "images_tree_sha256": digest, "files": files}
    write_json(out_dir / "manifest.json", manifest)
    return manifest
