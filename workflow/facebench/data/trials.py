"""A user's own verification set (dataset ``format: trials``): a folder of images and a trial list.

The trial list has one pair per line, ``path1 path2 label [fold]``, whitespace-separated: the paths relative to the
images folder ('/'-separated), label 1 (or any non-zero integer) for the same person and 0 for different people, and
an optional fold number (every line or none). Blank lines and lines starting with ``#`` are skipped. Without a fold
column the pairs get ``n_folds`` balanced folds (default 10: each fold the same share of same and different pairs),
and the protocol summary says which it was (``folds_from``). A trials set names no identities: it has verification
protocols only.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from facebench.data.folds import balanced_folds
from facebench.data.lfw import Pair

N_FOLDS = 10
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(root: str | Path) -> list[str]:
    """Every image file under ``root``, at any depth, as sorted '/'-separated paths relative to it."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.suffix.lower() in EXTENSIONS and p.is_file())


def identity(path: str) -> str:
    raise ValueError(f"{path}: a trials dataset names no identities (it has verification protocols only; "
                     "identification and training need a dataset whose images name their person)")


def _image(path: Path, lineno: int, value: str) -> str:
    """A trial's image path, normalised ('./a.jpg' is 'a.jpg'); one outside the images folder is an error."""
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or "\\" in value:
        raise ValueError(f"{path}: line {lineno}: image {value!r} must be a '/'-separated path relative to the "
                         "images folder, inside it")
    return p.as_posix()


def _int(path: Path, lineno: int, what: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{path}: line {lineno}: {what} {value!r} is not an integer") from None


def _rows(path: Path) -> list[tuple[int, str, str, int, int | None]]:
    """(line, image 1, image 2, label 0/1, fold or None) of every trial, each line checked."""
    rows, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = line.split()
        if len(f) not in (3, 4):
            raise ValueError(f"{path}: line {lineno}: expected 'path1 path2 label [fold]', found {len(f)} field(s)")
        a, b = _image(path, lineno, f[0]), _image(path, lineno, f[1])
        if a == b:
            raise ValueError(f"{path}: line {lineno}: {a} is paired with itself")
        label = int(_int(path, lineno, "label", f[2]) != 0)
        fold = _int(path, lineno, "fold", f[3]) if len(f) == 4 else None
        if fold is not None and fold < 0:
            raise ValueError(f"{path}: line {lineno}: fold {fold} is negative")
        key = frozenset((a, b))  # a pair is the same trial whichever image comes first
        if key in seen:
            raise ValueError(f"{path}: lines {seen[key]} and {lineno}: the pair {a} {b} is listed twice")
        seen[key] = lineno
        rows.append((lineno, a, b, label, fold))
    if not rows:
        raise ValueError(f"{path}: no trials (expected lines 'path1 path2 label [fold]')")
    with_fold = [r for r in rows if r[4] is not None]
    if with_fold and len(with_fold) != len(rows):
        first = next(r for r in rows if r[4] is None) if with_fold[0] is rows[0] else with_fold[0]
        raise ValueError(f"{path}: line {first[0]}: some lines give a fold and some do not; give it on every line "
                         "or on none (then the folds are balanced)")
    return rows


def _check(path: Path, labels: list[int], folds: list[int], origin: str) -> None:
    """Every fold must hold both kinds of pair, or its threshold could not be chosen on the other folds."""
    for k in sorted(set(folds)):
        kinds = {y for y, f in zip(labels, folds) if f == k}
        if kinds != {0, 1}:
            raise ValueError(f"{path}: fold {k} ({origin}) holds only {'same' if kinds == {1} else 'different'}-"
                             "person pairs; every fold needs both to choose a threshold on the others")
    if len(set(folds)) < 2:
        raise ValueError(f"{path}: one fold only ({origin}); cross-validation needs two or more")


def read_pairs(path: str | Path, n_folds: int | None = None) -> list[Pair]:
    """The trials with their folds: the file's fold column (its distinct values in order become folds 0, 1, ...),
    else ``n_folds`` (default 10) balanced folds."""
    path = Path(path)
    rows = _rows(path)
    labels = [r[3] for r in rows]
    if rows[0][4] is not None:
        if n_folds:
            raise ValueError(f"{path}: the file has a fold column, and the protocol's folds ({n_folds}) would "
                             "override it; drop folds from the protocol, or the column from the file")
        order = {v: i for i, v in enumerate(sorted({r[4] for r in rows}))}
        folds, origin = [order[r[4]] for r in rows], "the file's fold column"
    else:
        n_folds = n_folds or N_FOLDS
        same, different = sum(labels), len(labels) - sum(labels)
        if n_folds > min(same, different):
            raise ValueError(f"{path}: {same} same and {different} different pairs cannot fill {n_folds} balanced "
                             "folds (at most the smaller count; set the protocol's folds, or add a fold column)")
        folds, origin = balanced_folds(labels, n_folds), "balanced"
    _check(path, labels, folds, origin)
    return [Pair(f, a, b, y, line) for f, (line, a, b, y, _) in zip(folds, rows)]


def folds_origin(path: str | Path, n_folds: int | None = None) -> str:
    """How the folds of a trial list are made, for the protocol summary."""
    rows = _rows(Path(path))
    if rows[0][4] is not None:
        return "the file's fold column"
    return f"{n_folds or N_FOLDS} balanced folds (the file has no fold column)"
