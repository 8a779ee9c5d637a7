"""The aligned-face store: ``faces.npy`` (N x H x W x 3 RGB uint8, memory-mappable) beside ``index.tsv`` (row, path,
status, note) and ``summary.json`` (its version, template, size, method and counts), so training and embedding never
decode a JPEG again. This module is the format; ``facebench.align`` and ``facebench.resolution`` write stores.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facebench.io import read_json, read_tsv

STORE_VERSION = 1  # bump when the store's layout changes; readers refuse other versions
INDEX_COLUMNS = ["row", "path", "status", "note"]


@dataclass
class StoreIndex:
    paths: list[str]
    status: list[str]
    notes: list[str]


def read_index(store_dir: str | Path) -> StoreIndex:
    _, rows = read_tsv(Path(store_dir) / "index.tsv", expect=INDEX_COLUMNS)
    return StoreIndex([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


def open_faces(store_dir: str | Path) -> np.ndarray:
    """The store's faces as a read-only memory map (N x H x W x 3 uint8), after checking the store's version."""
    summary = read_json(Path(store_dir) / "summary.json")
    if summary.get("store_version") != STORE_VERSION:
        raise ValueError(f"{store_dir}: aligned-face store version {summary.get('store_version')}, this code reads "
                         f"{STORE_VERSION}; delete it to rebuild")
    faces = np.load(Path(store_dir) / "faces.npy", mmap_mode="r")
    if faces.shape[0] != summary["n_images"]:
        raise ValueError(f"{store_dir}/faces.npy holds {faces.shape[0]} faces, its summary says {summary['n_images']}")
    return faces


def reserve(path: Path) -> None:
    """Allocate the disk blocks of a (sparse) file that a memory map is about to fill. Why: on a full disk a store
    written through a memory map otherwise dies of SIGBUS at the first page that finds no block, with no message and
    its temporary file left behind; reserved up front, the shortage is an OSError here, which ``atomic_path`` turns
    into a DiskFullError naming the store."""
    if not hasattr(os, "posix_fallocate"):  # macOS: the map stays sparse
        return
    with open(path, "rb+") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # a filesystem that cannot reserve: stays sparse
                raise
