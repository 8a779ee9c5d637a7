"""Labeled Faces in the Wild: image names, the pairs files (View 1 and View 2) and the people files.

Format facts (README.txt of LFW): a pairs file starts with ``<sets> <pairs per set>`` (View 2: ``10 300``) or just
``<pairs>`` (View 1), then per set that many same-person lines ``name i j`` followed by as many different-person
lines ``name1 i name2 j``. Images are ``<Name>/<Name>_<i:04d>.jpg``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    fold: int
    path1: str
    path2: str
    label: int  # 1 = same person
    line: int  # line number in the pairs file (1-based), for error messages


def image_name(name: str, index: int) -> str:
    return f"{name}/{name}_{index:04d}.jpg"


def _index(path: Path, lineno: int, value: str) -> int:
    try:
        i = int(value)
    except ValueError:
        raise ValueError(f"{path}: line {lineno}: image number {value!r} is not an integer") from None
    if i < 1:
        raise ValueError(f"{path}: line {lineno}: image number {i} must be >= 1")
    return i


def read_pairs(path: str | Path) -> list[Pair]:
    """All pairs of an LFW pairs file; the fold of a pair is the set it is listed in (View 1 has one set)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError(f"{path}: line 1: empty file, expected a header")
    head = lines[0].split()
    try:
        n_sets, per_set = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    except (ValueError, IndexError):
        raise ValueError(f"{path}: line 1: header {lines[0]!r} is not '<sets> <pairs per set>' or '<pairs>'") from None
    expected = n_sets * per_set * 2
    body = [(i + 2, ln) for i, ln in enumerate(lines[1:]) if ln.strip()]
    if len(body) != expected:
        raise ValueError(f"{path}: header says {n_sets} set(s) of {per_set} same + {per_set} different pairs "
                         f"({expected} lines), the file has {len(body)}")
    pairs = []
    for k, (lineno, line) in enumerate(body):
        fold, within = divmod(k, 2 * per_set)
        same = within < per_set
        f = line.split()
        if same:
            if len(f) != 3:
                raise ValueError(f"{path}: line {lineno}: a same-person line needs 'name i j', found {len(f)} fields")
            p1, p2 = image_name(f[0], _index(path, lineno, f[1])), image_name(f[0], _index(path, lineno, f[2]))
        else:
            if len(f) != 4:
                raise ValueError(f"{path}: line {lineno}: a different-person line needs 'name1 i name2 j', "
                                 f"found {len(f)} fields")
            p1, p2 = image_name(f[0], _index(path, lineno, f[1])), image_name(f[2], _index(path, lineno, f[3]))
        pairs.append(Pair(fold, p1, p2, int(same), lineno))
    return pairs


def read_people(path: str | Path) -> list[list[tuple[str, int]]]:
    """Sets of (name, image count) from people.txt (``<sets>`` then per set ``<n>`` and n lines) or the View 1
    people files (``<n>`` then n lines)."""
    path = Path(path)
    lines = [(i + 1, ln.split()) for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines()) if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: line 1: empty file")

    def count(lineno, fields):
        if len(fields) != 1 or not fields[0].isdigit():
            raise ValueError(f"{path}: line {lineno}: expected a count, found {' '.join(fields)!r}")
        return int(fields[0])

    pos = 0

    def take_set():
        nonlocal pos
        n = count(*lines[pos])
        pos += 1
        people = []
        for lineno, fields in lines[pos:pos + n]:
            if len(fields) != 2 or not fields[1].isdigit():
                raise ValueError(f"{path}: line {lineno}: expected 'name count', found {' '.join(fields)!r}")
            people.append((fields[0], int(fields[1])))
        if len(people) != n:
            raise ValueError(f"{path}: a set announces {n} people, the file ends after {len(people)}")
        pos += n
        return people

    first = count(*lines[0])
    # View 2's people.txt announces the number of sets and the next line is a count again
    if len(lines) > 1 and len(lines[1][1]) == 1:
        pos = 1
        sets = [take_set() for _ in range(first)]
    else:
        sets = [take_set()]
    if pos != len(lines):
        raise ValueError(f"{path}: line {lines[pos][0]}: unexpected content after the last set")
    return sets


def list_images(root: str | Path) -> list[str]:
    """Every ``<Name>/<file>.jpg`` under ``root``, sorted (paths relative to root, '/' separated)."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.jpg"))


def identity(path: str) -> str:
    return path.split("/", 1)[0]
