"""Atomic writes, checksums and small file formats shared by every stage.

Every output goes to a temporary name beside its final path and is renamed only when complete, so an interrupted
job never leaves a file that looks finished.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# a full disk, a full quota, or a write past the process's file size limit (RLIMIT_FSIZE)
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class DiskFullError(RuntimeError):
    """A write ran out of space; the file it was to replace is left as it was. The command line prints the message
    alone (no traceback) and exits with ``exit_code``."""

    exit_code = 74  # EX_IOERR of sysexits.h


def out_of_space(err: BaseException) -> bool:
    """Whether ``err`` is a write refused for want of space (a full disk, a quota or the file size limit)."""
    return isinstance(err, OSError) and err.errno in _NO_SPACE


def disk_full(err: OSError, target: Path, *, written: Path | None = None, note: str = "") -> DiskFullError:
    """The one wording of a full disk: the file whose write failed (``written``, default ``target``), why, ``note``
    (what became of the partial write) and that ``target`` was left as it was."""
    return DiskFullError(f"cannot write {written or target}: {err.strerror} ({errno.errorcode[err.errno]}); {note}"
                         f"{target} was left as it was. Free some space (or raise the file size limit) and rerun.")


def _no_space(err: BaseException, path: Path) -> DiskFullError | None:
    return disk_full(err, path) if out_of_space(err) else None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` only if the block succeeds.

    A write that fails for want of space (in the block, the fsync or the rename) raises DiskFullError naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # imported here: it pulls in `random`, a measurable share of eval-pairs start-up

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + suffix, dir=path.parent)
    except OSError as err:
        raise (_no_space(err, path) or err) from err
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600: give the output the mode a plain open() would
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # flush data to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        full = _no_space(err, path)
        if full is not None:
            raise full from err
        raise


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def save_npz(path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def rows_of(paths, wanted, missing) -> np.ndarray:
    """The row of each ``wanted`` path in ``paths``; if some are absent, KeyError(missing(how many, the first))."""
    row = {p: i for i, p in enumerate(paths)}
    absent = [p for p in wanted if p not in row]
    if absent:
        raise KeyError(missing(len(absent), absent[0]))
    return np.array([row[p] for p in wanted], dtype=np.int64)


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_tsv(path, header: list[str], rows) -> None:
    """Tab-separated text with a header line; values are written with str()."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\t".join(header) + "\n")
            for row in rows:
                fh.write("\t".join(str(v) for v in row) + "\n")


def read_tsv(path, expect: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Read a TSV written by ``write_tsv``; with ``expect``, the header must hold those columns (named in the error)."""
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if expect is not None:
            missing = [c for c in expect if c not in header]
            if missing:
                raise ValueError(f"{path}: line 1: header lacks column(s) {missing}; found {header}")
        rows = []
        for lineno, line in enumerate(fh, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(header):
                raise ValueError(f"{path}: line {lineno}: {len(fields)} fields, the header has {len(header)}")
            rows.append(fields)
    return header, rows
