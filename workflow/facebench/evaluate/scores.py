"""Scoring pairs of embeddings, and the score file every verification metric is computed from.

Score file (TSV with a header): ``score label fold`` (label 1 = same person), optionally ``path1 path2``.
It is what ``facebench eval-pairs`` reads, so scores from any model can be evaluated the same way; it reads its
columns by name and ignores any others. The files written here carry metadata columns after those five, so accuracy
can be broken down by pair or person: ``score label fold path1 path2 pair identity1 identity2``, where ``pair`` is
the pair's index in the protocol's pair list (its row of ``pairs-<name>.tsv``, from 0; a pair dropped for a failed
face leaves a gap) and the identities are those of the protocol file (empty for a set that names none: trials,
insightface .bin). The cross-age and cross-pose sets' files give no per-image age or pose, so no such column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from facebench.io import atomic_path, rows_of

FEATURE_MODES = ("plain", "flip-concat", "flip-sum")


def features(emb: dict[str, np.ndarray], mode: str) -> np.ndarray:
    """plain: the face's own features (what the seed scores); flip-concat: [f, f_flip]; flip-sum: f + f_flip."""
    if mode == "plain":
        return emb["features"]
    if mode == "flip-concat":
        return np.concatenate([emb["features"], emb["features_flip"]], axis=1)
    if mode == "flip-sum":
        return emb["features"] + emb["features_flip"]
    raise ValueError(f"feature mode must be one of {FEATURE_MODES}, got {mode!r}")


def unit_rows(f: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Each row scaled to unit L2 norm (an all-zero row stays zero)."""
    f = np.asarray(f, dtype=dtype)
    return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity as the seed computes it: a.b / (|a| |b| + 1e-5), here in float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-5)


def pair_rows(emb: dict[str, np.ndarray], pairs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The embedding rows of each pair's two images, and whether both faces were embedded (neither failed)."""
    n = len(pairs["path1"])
    both = rows_of(emb["paths"].tolist(), np.concatenate([pairs["path1"], pairs["path2"]]).tolist(),
                   lambda k, first: f"{k} pair image(s) have no embedding, e.g. {first}")
    good = emb["status"] != "failed"
    return both[:n], both[n:], good[both[:n]] & good[both[n:]]


def score_pairs(emb: dict[str, np.ndarray], pairs: dict[str, np.ndarray], mode: str) -> dict:
    """Cosine score of every pair whose two faces were embedded; pairs touching a failed face are dropped."""
    i1, i2, ok = pair_rows(emb, pairs)
    f = features(emb, mode)
    n = len(pairs["path1"])
    meta = {"pair": pairs.get("pair", np.arange(n, dtype=np.int64)),
            **{c: pairs.get(c, np.full(n, "", dtype=str)) for c in ("identity1", "identity2")}}
    return {"score": cosine(f[i1[ok]], f[i2[ok]]), "label": pairs["label"][ok], "fold": pairs["fold"][ok],
            "path1": pairs["path1"][ok], "path2": pairs["path2"][ok], **{c: v[ok] for c, v in meta.items()},
            "dropped": int((~ok).sum())}


SCORE_COLUMNS = ("score", "label", "fold", "path1", "path2", "pair", "identity1", "identity2")


def write_scores(path: str | Path, s: dict) -> None:
    """The score file of ``score_pairs``' result (columns SCORE_COLUMNS; the score written to full precision).
    A result without the metadata (``pair``, identities) gets the row index and empty identities."""
    n = len(s["score"])
    cols = [s["score"], s["label"], s["fold"], s["path1"], s["path2"], s.get("pair", range(n)),
            s.get("identity1", [""] * n), s.get("identity2", [""] * n)]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\t".join(SCORE_COLUMNS) + "\n")
            for row in zip(*cols):
                fh.write(f"{float(row[0])!r}\t" + "\t".join(str(v) for v in row[1:]) + "\n")


class ScoreFileError(ValueError):
    pass


def _first_bad_line(path: Path, cols: dict[str, int], skip_header: bool) -> str:
    need = max(cols.values()) + 1
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if (lineno == 1 and skip_header) or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < need:
                return f"{path}: line {lineno}: {len(fields)} tab-separated field(s), expected at least {need}"
            for name, idx in cols.items():
                try:
                    float(fields[idx])
                except ValueError:
                    return f"{path}: line {lineno}: {name} {fields[idx][:40]!r} is not a number"
    return f"{path}: the file is not a consistent tab-separated table"


def read_scores(path: str | Path) -> dict[str, np.ndarray]:
    """Read score, label and (if present) fold from a tab-separated score file; a header line is optional.

    Without a header the columns are score, label[, fold]. With one, they are found by name and other columns
    (paths, say) are ignored. Labels must be 0 or 1. A malformed line raises an error naming the file and line.
    Parsed by pyarrow's CSV reader: 1M lines in about a tenth of a second, where np.loadtxt takes over one.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    if not path.is_file():
        raise ScoreFileError(f"{path}: no such file")
    # utf-8-sig: a spreadsheet's export starts with a byte-order mark, which is not part of the first column's name
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n").split("\t")
    if not any(first):
        raise ScoreFileError(f"{path}: line 1: empty")
    try:
        [float(v) for v in first]
        header = None
    except ValueError:
        header = first
    if header is None:
        names = [f"c{i}" for i in range(len(first))]
        cols = {"score": 0, "label": 1, **({"fold": 2} if len(first) >= 3 else {})}
        if len(first) < 2:
            raise ScoreFileError(f"{path}: line 1: need at least the columns score and label")
    else:
        if "score" not in header or "label" not in header:
            raise ScoreFileError(f"{path}: line 1: header {header} needs columns 'score' and 'label'")
        names = header
        cols = {c: header.index(c) for c in ("score", "label", "fold") if c in header}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(include_columns=[names[i] for i in cols.values()],
                                                 column_types={names[i]: pa.float64() for i in cols.values()}))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise ScoreFileError(_first_bad_line(path, cols, header is not None) + f" ({str(err).splitlines()[0]})") \
            from None
    out = {name: _float_column(table.column(names[idx])) for name, idx in cols.items()}
    return _checked(path, out, first_line=2 if header else 1)


def _float_column(column) -> np.ndarray:
    """A float64 Arrow column as numpy, read from its buffers: ChunkedArray.to_numpy imports pandas, which alone
    costs more than parsing a million lines. Null entries come out as NaN (and are then refused by _checked)."""
    parts = []
    for chunk in column.chunks:
        values = np.frombuffer(chunk.buffers()[1], dtype=np.float64, count=len(chunk), offset=chunk.offset * 8)
        if chunk.null_count:
            valid = np.unpackbits(np.frombuffer(chunk.buffers()[0], dtype=np.uint8), bitorder="little")
            values = np.where(valid[chunk.offset:chunk.offset + len(chunk)].astype(bool), values, np.nan)
        parts.append(values)
    return np.concatenate(parts) if parts else np.zeros(0)


def _checked(path: Path, out: dict[str, np.ndarray], first_line: int) -> dict[str, np.ndarray]:
    if len(out["score"]) == 0:
        raise ScoreFileError(f"{path}: no scores")
    for name, arr in out.items():
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise ScoreFileError(f"{path}: line {bad[0] + first_line}: {name} is missing or not a finite number")
    labels = out["label"]
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if len(bad):
        raise ScoreFileError(f"{path}: line {bad[0] + first_line}: label {labels[bad[0]]:g} is not 0 or 1")
    out["label"] = labels.astype(np.int64)
    if "fold" in out:
        if np.any(out["fold"] != np.round(out["fold"])):
            raise ScoreFileError(f"{path}: fold ids must be whole numbers")
        out["fold"] = out["fold"].astype(np.int64)
    return out
