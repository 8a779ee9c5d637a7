"""Shared test fixtures. Real-data tests read ../shared/data and skip, saying why, where it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT.parent / "shared" / "data").resolve()
LFW = SHARED / "lfw"
PRETRAINED = SHARED / "weights" / "pretrained" / "mobilefacenet_arcface_casia_112x112.pth"

needs_shared = pytest.mark.skipif(
    not (LFW / "pairs.txt").is_file(),
    reason=f"real-data test: {LFW} is absent (the LFW copy in ../shared/data is only on the project's machines)",
)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for tests of tiny tensors: on a shared 2-core machine a second, spinning thread made them
    10-25x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke workflow, run once for every integration test that reads its outputs (tests/smoke.py)."""
    from smoke import run_smoke

    return run_smoke(tmp_path_factory.mktemp("smoke"))


def pytest_terminal_summary(terminalreporter):
    """The table of faults injected and survived (tests/faults.py), when a fault test of tests/test_faults.py ran."""
    from faults import RECORDS, table

    if RECORDS:
        terminalreporter.write_sep("=", "faults injected and survived")
        terminalreporter.write_line(table())
