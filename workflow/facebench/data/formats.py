"""Dataset formats: how a dataset's images are laid out and named, how its pairs file reads, and what shape its
provided landmarks have. A dataset's ``format`` config key (default ``lfw``) names one entry of FORMATS; fetch,
protocols and landmarks look the format up here, so a new format is one reader module plus one entry.

- ``lfw``: images ``<Name>/<Name>_<NNNN>.jpg``; pairs files with a ``<sets> <pairs per set>`` header (folds = sets;
  a one-set file gets balanced folds when ``folds`` is given); landmarks are one table file for all images.
- ``calfw``: flat images ``<Name>_<NNNN>.jpg``; ``pairs_CALFW.txt`` with two ``image label`` lines per pair, folds
  always rebuilt balanced (default 10); landmarks are a folder of ``<image stem>_5loc_attri.txt`` files.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facebench.data import calfw, lfw
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
    landmarks: str  # "file": one table for every image; "folder": one file per image
    read_landmarks: Callable[[Path, list[str]], dict[str, Landmarks]]  # (source, images) -> table


def _lfw_pairs(path: Path, n_folds: int | None) -> list[lfw.Pair]:
    """LFW pairs with the file's sets as folds; a one-set file (View 1) gets ``n_folds`` balanced folds if asked."""
    pairs = lfw.read_pairs(path)
    if n_folds and len({p.fold for p in pairs}) == 1:
        folds = balanced_folds([p.label for p in pairs], n_folds)
        pairs = [lfw.Pair(f, p.path1, p.path2, p.label, p.line) for f, p in zip(folds, pairs)]
    return pairs


def _calfw_pairs(path: Path, n_folds: int | None) -> list[lfw.Pair]:
    return calfw.read_pairs(path, n_folds or CALFW_FOLDS)


def _table_landmarks(path: Path, images: list[str]) -> dict[str, Landmarks]:
    return read_landmark_table(path)


def _calfw_landmarks(folder: Path, images: list[str]) -> dict[str, Landmarks]:
    """A folder of per-image files; an image without a readable file is entered as ``missing``."""
    return calfw.read_landmarks(folder, images)[0]


FORMATS = {
    "lfw": Format("lfw", "<Name>/<Name>_<NNNN>.jpg", lfw.list_images, lfw.identity, _lfw_pairs, "file",
                  _table_landmarks),
    "calfw": Format("calfw", "<Name>_<NNNN>.jpg (flat)", calfw.list_images, calfw.identity, _calfw_pairs, "folder",
                    _calfw_landmarks),
}


def get(name: str | None, key: str = "format") -> Format:
    """The format called ``name`` (None: lfw); an unknown name is an error naming the config key."""
    if name is None:
        return FORMATS["lfw"]
    if name not in FORMATS:
        raise ValueError(f"{key}: unknown dataset format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]
