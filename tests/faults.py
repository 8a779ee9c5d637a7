"""The fault registry of tests/test_faults.py: every fault test records the fault it injects and whether the system
survived it; tests/conftest.py prints the records as a table at the end of the run (pytest_terminal_summary).

A fault counts as injected only once the test has really injected it (``injected()``, called right after the kill,
the corrupt file or the full disk is in place), and as survived only if the test then passes its checks: a test that
fails while setting up shows 0 injected, one that fails its checks shows 1 injected, 0 survived.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Fault:
    name: str
    injected: bool = False
    survived: bool = False


RECORDS: list[Fault] = []


class Injection:
    def __init__(self, record: Fault):
        self.record = record

    def injected(self) -> None:
        self.record.injected = True


@contextlib.contextmanager
def fault(name: str) -> Iterator[Injection]:
    """Record fault ``name`` for the block; it is survived if the block ends without an exception after
    ``injected()`` was called in it."""
    record = Fault(name)
    RECORDS.append(record)
    yield Injection(record)
    record.survived = record.injected


def table(records: list[Fault] | None = None) -> str:
    """The records as 'fault | injected | survived' lines with a total line."""
    records = RECORDS if records is None else records
    rows = [(r.name, str(int(r.injected)), str(int(r.survived))) for r in records]
    rows.append(("total", str(sum(r.injected for r in records)), str(sum(r.survived for r in records))))
    header = ("fault", "injected", "survived")
    width = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]

    def line(row) -> str:
        return f"{row[0]:<{width[0]}} | {row[1]:>{width[1]}} | {row[2]:>{width[2]}}"

    rule = "-" * width[0] + "-+-" + "-" * width[1] + "-+-" + "-" * width[2]
    return "\n".join([line(header), rule, *map(line, rows[:-1]), rule, line(rows[-1])])
