"""Dataset formats: how a dataset's images are laid out and named, how its pairs file reads, and what shape its
provided landmarks have. A dataset's ``format`` config key (default ``lfw``) names one entry of FORMATS; fetch,
protocols and landmarks look the format up here, so a new format is one reader module plus one entry.

- ``lfw``: images ``<Name>/<Name>_<NNNN>.jpg``; pairs files with a ``<sets> <pairs per set>`` header (folds = sets;
  a one-set file gets balanced folds when ``folds`` is given); landmarks are one table file for all images.
- ``calfw``: flat images ``<Name>_<NNNN>.jpg``; ``pairs_CALFW.txt`` with two ``image label`` lines per pair, folds
  always rebuilt balanced (default 10); landmarks are a folder of ``<image stem>_5loc_attri.txt`` files.
- ``cplfw``: CALFW's format with CPLFW's unpadded names ``<Name>_<N>.jpg`` (``pairs_CPLFW.txt``, ``CPLFW/points``).
- ``trials``: a user's folder of images (any depth) and trial list ``path1 path2 label [fold]``
  (facebench.data.trials); folds from the column, else balanced (default 10); landmarks one table file; no identities.
- ``insightface-bin``: one pickle of aligned faces and same flags (facebench.data.insightface_bin), no images folder:
  fetch lists its images by index, its pairs are images 2i, 2i+1 in 10 contiguous folds, and its faces go straight
  into a store (alignment method ``given``); no landmarks, no identities.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from facebench import names
from facebench.data import calfw, insightface_bin, lfw, trials
from facebench.data.folds import balanced_folds
from facebench.landmarks import Landmarks
from facebench.landmarks import read as read_landmark_table

CALFW_FOLDS = 10  # the published CALFW protocol: 10 folds of 300 same + 300 different pairs


@dataclass(frozen=True)
class Format:
    name: str
    layout: str  # how the images are named, for error messages
    list_images: Callable[[Path], list[str]]
    identity: Callable[[str], str]
    read_pairs: Callable[[Path, int | None], list[lfw.Pair]]
    landmarks: str  # "file": one table for every image; "folder": one file per image; "none": faces come aligned
    read_landmarks: Callable[[Path, list[str]], dict[str, Landmarks]]  # (source, images) -> table
    folds_origin: Callable[[Path, int | None], str]  # (pairs file, configured folds) -> how the folds are made
    names_identities: bool = True  # False: ``identity`` raises (trials, .bin); the pairs TSV leaves identities empty


def _lfw_pairs(path: Path, n_folds: int | None) -> list[lfw.Pair]:
    """LFW pairs with the file's sets as folds; a one-set file (View 1) gets ``n_folds`` balanced folds if asked."""
    pairs = lfw.read_pairs(path)
    if n_folds and len({p.fold for p in pairs}) == 1:
        folds = balanced_folds([p.label for p in pairs], n_folds)
        pairs = [lfw.Pair(f, p.path1, p.path2, p.label, p.line) for f, p in zip(folds, pairs)]
    return pairs


def _calfw_pairs(path: Path, n_folds: int | None) -> list[lfw.Pair]:
    return calfw.read_pairs(path, n_folds or CALFW_FOLDS)


def _cplfw_pairs(path: Path, n_folds: int | None) -> list[lfw.Pair]:
    return calfw.read_pairs(path, n_folds or CALFW_FOLDS, kind="CPLFW")


def _lfw_folds(path: Path, n_folds: int | None) -> str:
    return f"{n_folds} balanced folds (a one-set file)" if n_folds and len(
        {p.fold for p in lfw.read_pairs(path)}) == 1 else "the file's sets"


def _balanced(path: Path, n_folds: int | None) -> str:
    return f"{n_folds or CALFW_FOLDS} balanced folds"


def _contiguous(path: Path, n_folds: int | None) -> str:
    return f"{n_folds or insightface_bin.N_FOLDS} contiguous blocks of pairs (the .bin's order)"


def _no_landmarks(path: Path, images: list[str]) -> dict[str, Landmarks]:
    raise ValueError(f"{path}: an insightface .bin holds aligned faces and no landmarks (alignment method given)")


def _no_identity(path: str) -> str:
    raise ValueError(f"{path}: an insightface .bin names no identities (it has verification pairs only)")


def _table_landmarks(path: Path, images: list[str]) -> dict[str, Landmarks]:
    return read_landmark_table(path)


def _calfw_landmarks(folder: Path, images: list[str]) -> dict[str, Landmarks]:
    """A folder of per-image files; an image without a readable file is entered as ``missing``."""
    return calfw.read_landmarks(folder, images)[0]


FORMATS = {
    "lfw": Format("lfw", "<Name>/<Name>_<NNNN>.jpg", lfw.list_images, lfw.identity, _lfw_pairs, "file",
                  _table_landmarks, _lfw_folds),
    "calfw": Format("calfw", "<Name>_<NNNN>.jpg (flat)", calfw.list_images, calfw.identity, _calfw_pairs, "folder",
                    _calfw_landmarks, _balanced),
    "cplfw": Format("cplfw", "<Name>_<N>.jpg (flat)", partial(calfw.list_images, kind="CPLFW"),
                    partial(calfw.identity, kind="CPLFW"), _cplfw_pairs, "folder", _calfw_landmarks, _balanced),
    "trials": Format("trials", "any image files (.jpg, .png, ...) at any depth", trials.list_images, trials.identity,
                     trials.read_pairs, "file", _table_landmarks, trials.folds_origin, names_identities=False),
    names.BIN_FORMAT: Format(names.BIN_FORMAT, "one .bin file (datasets.<name>.file)", lambda root: [],
                              _no_identity, insightface_bin.read_pairs, "none", _no_landmarks, _contiguous,
                              names_identities=False),
}
BIN = names.BIN_FORMAT  # the format whose store is decoded from its file, not cut from images


def get(name: str | None, key: str = "format") -> Format:
    """The format called ``name`` (None: lfw); an unknown name is an error naming the config key."""
    if name is None:
        return FORMATS["lfw"]
    if name not in FORMATS:
        raise ValueError(f"{key}: unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]
