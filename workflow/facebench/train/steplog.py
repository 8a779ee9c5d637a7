"""The training logs' file: a TSV keyed by step, appended as the run goes and cut back to the saved step on resume."""
from __future__ import annotations

from pathlib import Path

from facebench.io import read_tsv


class StepLog:
    """A TSV keyed by step (first column), appended as the run goes (flushed each row) and cut back to the saved step
    on resume: the per-step log, and the per-epoch validation log."""

    def __init__(self, path: Path, columns: list[str], resume_step: int):
        self.path, self.columns = path, list(columns)
        kept = []
        if resume_step and path.exists():
            header, rows = read_tsv(path)
            if header == self.columns:
                kept = [r for r in rows if int(r[0]) <= resume_step]
        self.fh = open(path, "w", encoding="utf-8")
        self.fh.write("\t".join(self.columns) + "\n")
        for r in kept:
            self.fh.write("\t".join(r) + "\n")
        self.fh.flush()

    def write(self, values: dict) -> None:
        self.fh.write("\t".join(_fmt(values.get(c)) for c in self.columns) + "\n")
        self.fh.flush()

    def close(self):
        self.fh.close()


def _fmt(v) -> str:
    if v is None:
        return "nan"
    return f"{v:.6g}" if isinstance(v, float) else str(v)
