"""Shared test fixtures. Two kinds of test read data:

- real-data tests (marked ``needs_shared``) check accuracy or detection on real faces from ../shared/data, and skip,
  saying why, where it is absent;
- plumbing tests (the DAG, resume, faults, the report) run everywhere: on ../shared/data where it exists, else on a
  small dataset in the same layout that tests/synthetic.py generates (tests/smoke.py chooses).

FACEBENCH_SHARED overrides where the shared data is looked for; set it to a folder that does not exist to run the
suite as a machine without the copy would.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEBENCH_SHARED") or ROOT.parent / "shared" / "data").resolve()
LFW = SHARED / "lfw"
PRETRAINED = SHARED / "weights" / "pretrained" / "mobilefacenet_arcface_casia_112x112.pth"
HAVE_SHARED = (LFW / "pairs.txt").is_file()

needs_shared = pytest.mark.skipif(
    not HAVE_SHARED,
    reason=f"real-data test: {LFW} is absent (the LFW copy in ../shared/data is only on the project's machines; "
    f"FACEBENCH_SHARED points elsewhere)",
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
    """The smoke workflow, run once for every integration test that reads its outputs (tests/smoke.py): on the real
    data where ../shared/data exists, else on the generated dataset."""
    from smoke import run_smoke

    return run_smoke(tmp_path_factory.mktemp("smoke"))


def pytest_terminal_summary(terminalreporter):
    """The table of faults injected and survived (tests/faults.py), when a fault test of tests/test_faults.py ran."""
    from faults import RECORDS, table

    if RECORDS:
        terminalreporter.write_sep("=", "faults injected and survived")
        terminalreporter.write_line(table())
