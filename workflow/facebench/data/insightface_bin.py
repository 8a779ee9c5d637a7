"""insightface ``.bin`` verification sets (lfw, cfp_fp, cfp_ff, agedb_30, calfw, cplfw, vgg2_fp), read without running
anything the file names.

Format facts (insightface's packing scripts: ``pickle.dump((bins, issame_list), f)``): one pickle of a pair
``(bins, issame)``: ``bins`` a list of 2N encoded images (JPEG or PNG bytes) of faces already aligned at 112x112,
``issame`` N same/different flags (a list of bools, or a numpy boolean array); pair i is images 2i and 2i+1, and the
published protocol's folds are 10 contiguous blocks of pairs (what insightface's ``KFold(shuffle=False)`` takes).
Files packed under Python 2 hold ``str`` images, read here as bytes (``encoding="bytes"``, as insightface loads them).

Why a restricted unpickler rather than ``pickle.load``: a pickle may name any callable and have it called while it
loads, so a downloaded ``.bin`` could run code. It is read by facebench.safe_pickle under its ``PlainValues``
policy: inert stand-ins for the few globals such a file needs (numpy's array and scalar reconstruction;
``_codecs.encode`` and ``bytearray``, by which Python 3 writes bytes and bytearrays in the older protocols), each
checking its arguments, and every other global refused with an error naming the file and the global. This reader
then accepts only bytes, lists, tuples, booleans (or 0/1) and numpy boolean arrays and scalars; the arrays are rebuilt
from their raw bytes by ``np.frombuffer`` after the whole file is read, never by numpy's own reconstructors.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from facebench import safe_pickle
from facebench.data.lfw import Pair

N_FOLDS = 10  # the published protocol of every insightface .bin


class BinFormatError(ValueError):
    """A ``.bin`` file that is not a verification set this reader accepts; the message names the file."""


def _is_bool_dtype(d) -> bool:
    return safe_pickle.dtype_name(d) in ("b1", "?", "bool")


def _refuse(path: Path):
    def refuse(what: str) -> BinFormatError:
        return BinFormatError(f"{path}: refused {what}: an insightface .bin holds only image bytes and "
                              "same/different flags, and this reader builds nothing else (the file's code, if any, "
                              "was not run)")
    return refuse


def _flags(path: Path, issame) -> list[int]:
    """The same/different flags as 0/1: a list or tuple of bools, 0/1 ints or numpy bools, or a boolean array."""
    if isinstance(issame, safe_pickle.PendingArray):
        if not _is_bool_dtype(issame.dtype) or not isinstance(issame.raw, (bytes, bytearray)):
            raise BinFormatError(f"{path}: the flags are a numpy array of dtype "
                                 f"{safe_pickle.dtype_name(issame.dtype) or '?'!r}; only a boolean array is accepted")
        arr = np.frombuffer(bytes(issame.raw), dtype=np.uint8)
        if len(arr) != int(np.prod(issame.shape)) or len(issame.shape) != 1 or (arr > 1).any():
            raise BinFormatError(f"{path}: the flags array (shape {issame.shape}) is not a 1-d boolean array")
        return [int(v) for v in arr]
    if not isinstance(issame, (list, tuple)):
        raise BinFormatError(f"{path}: the flags (second item) are a {type(issame).__name__}, not a list")
    out = []
    for i, v in enumerate(issame):
        if isinstance(v, safe_pickle.NumpyScalar) and _is_bool_dtype(v.dtype) and v.raw in (b"\x00", b"\x01"):
            v = v.raw == b"\x01"
        if not isinstance(v, (bool, int)) or v not in (0, 1):
            raise BinFormatError(f"{path}: flag {i} is {v!r}, not a boolean (or 0/1)")
        out.append(int(v))
    return out


def read(path: str | Path) -> tuple[list[bytes], list[int]]:
    """(encoded images, same flags 0/1) of an insightface ``.bin``, checked: 2N images, N flags."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            obj = safe_pickle.load(fh, safe_pickle.PlainValues(_refuse(path)), encoding="bytes")
    except BinFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            UnicodeDecodeError) as err:
        raise BinFormatError(f"{path}: not a pickle this reader accepts (an insightface .bin is one pickle of "
                             f"(images, flags)): {type(err).__name__}: {err}") from None
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise BinFormatError(f"{path}: the pickle holds a {type(obj).__name__}, not the pair (images, flags)")
    bins, issame = obj
    if not isinstance(bins, (list, tuple)):
        raise BinFormatError(f"{path}: the images (first item) are a {type(bins).__name__}, not a list")
    for i, b in enumerate(bins):
        if not isinstance(b, (bytes, bytearray)):
            raise BinFormatError(f"{path}: image {i} is a {type(b).__name__}, not encoded image bytes")
    flags = _flags(path, issame)
    if len(bins) % 2:
        raise BinFormatError(f"{path}: {len(bins)} images, an odd number; pairs are images 2i and 2i+1")
    if len(flags) != len(bins) // 2:
        raise BinFormatError(f"{path}: {len(flags)} same/different flags for {len(bins) // 2} pairs "
                             f"({len(bins)} images)")
    if not flags:
        raise BinFormatError(f"{path}: no pairs")
    return [bytes(b) for b in bins], flags


def image_names(n: int) -> list[str]:
    """Stable names of the images of a .bin, by index: ``000000.jpg``... (wider when there are a million or more)."""
    width = max(6, len(str(n - 1)))
    return [f"{i:0{width}d}.jpg" for i in range(n)]


def index_of(name: str) -> int:
    """The image index a synthetic name stands for (``000042.jpg`` -> 42)."""
    stem = Path(name).stem
    if not stem.isdigit():
        raise ValueError(f"{name}: not an image name of an insightface .bin (<index>.jpg)")
    return int(stem)


def contiguous_folds(n_pairs: int, n_folds: int) -> list[int]:
    """Fold per pair: ``n_folds`` contiguous blocks in file order (pair i -> i * n_folds // n_pairs)."""
    return [i * n_folds // n_pairs for i in range(n_pairs)]


def pairs_from_flags(flags: list[int], n_folds: int | None = None, where: str = "") -> list[Pair]:
    """The verification pairs (images 2i and 2i+1) with contiguous folds; every fold must hold both kinds."""
    n_folds = n_folds or N_FOLDS
    if n_folds > len(flags):
        raise BinFormatError(f"{where}: {len(flags)} pairs cannot fill {n_folds} folds")
    names = image_names(2 * len(flags))
    folds = contiguous_folds(len(flags), n_folds)
    for k in range(n_folds):
        kinds = {y for y, f in zip(flags, folds) if f == k}
        if kinds != {0, 1}:
            raise BinFormatError(f"{where}: fold {k} (a contiguous block of pairs) holds only "
                                 f"{'same' if kinds == {1} else 'different'}-person pairs; its threshold could not "
                                 "be chosen on the other folds")
    # line: the pair's index + 1, so an error about a pair names where it is in the file
    return [Pair(f, names[2 * i], names[2 * i + 1], y, i + 1) for i, (f, y) in enumerate(zip(folds, flags))]


def read_pairs(path: str | Path, n_folds: int | None = None) -> list[Pair]:
    """The pairs of a ``.bin`` (its images are read and dropped: the protocol needs only the flags)."""
    return pairs_from_flags(read(path)[1], n_folds, str(path))


def decode(data: bytes, index: int, path: str | Path) -> np.ndarray:
    """One encoded face as an HxWx3 RGB uint8 array; an undecodable one is an error naming the file and index."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None or img.ndim != 3 or min(img.shape[:2]) < 1:
        raise ValueError(f"{path}: image {index} ({image_names(index + 1)[-1]}) cannot be decoded as a JPEG or PNG")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
