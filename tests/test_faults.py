"""Fault injection, end to end: every fault goes in through the workflow's own entry points (a Snakemake run, or
``python -m facebench <command>`` as a rule runs it) and must be refused with a clear message, or survived without a
trace. The unit tests cover the functions underneath (test_download, test_convert, test_train, test_config,
test_align); this file covers the commands and the workflow around them.

Every test records its fault in tests/faults.py; tests/conftest.py prints the table of faults injected and survived
at the end of the run. The uninterrupted reference is the session's smoke run (``smoke_run``) wherever the config is
the same; runs that only need a part of the DAG start from copies of its upstream outputs.

All of them are plumbing tests: they run on the real LFW subset of ../shared/data where it exists, else on the dataset
tests/synthetic.py generates (tests/smoke.py's ``absolute_config`` chooses), and compare a run with its reference on
the same data, never with a number.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from faults import fault
from smoke import absolute_config, snakemake

pytestmark = pytest.mark.integration

STORE = "results/aligned/lfw/provided/arcface112"  # the store that trained models train and are evaluated on
UPSTREAM = ["results/data", "results/protocols", "results/landmarks", STORE]  # what training and embedding read
TRAINED = "softmax"  # a smoke model trained from scratch
METRICS = "results/metrics/{model}/lfw/provided/view2-plain-grid.json"
# the kill needs a training job that is still running after its first checkpoints: the smoke profile's 4 steps are
# over in a blink, so the victim trains longer (and has its own uninterrupted reference)
LONGER = {"steps": 48, "checkpoint_every": 6}
KILL_AFTER_STEP = 12  # the second checkpoint: the resumed state has been replaced once already
WEIGHTS_ONLY_REFUSAL = "refused by weights-only loading"
NO_SPACE_EXIT = 74  # facebench.io.DiskFullError.exit_code (EX_IOERR)


# ---------------------------------------------------------------- running the workflow and its commands
def child_env() -> dict:
    """The environment of a rule's command: this interpreter's bin first on PATH (the rules call `python`),
    workflow/ importable, and no proxy between a command and this test's local HTTP server."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "workflow")
    return env


def facebench(*args, cwd: Path, max_file_bytes: int | None = None) -> subprocess.CompletedProcess:
    """``python -m facebench ARGS``; ``max_file_bytes`` makes every write past that size fail as a full disk would
    (RLIMIT_FSIZE in the child only, with SIGXFSZ ignored so that the write returns EFBIG instead of killing it)."""

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "facebench", *map(str, args)],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size if max_file_bytes else None,
    )


def start_workflow(work: Path, config: Path, *targets: str) -> tuple[subprocess.Popen, Path]:
    """The command smoke.snakemake runs, started in a session of its own (so one killpg reaches every process of it);
    returns the process and the file its output goes to."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    cmd += ["--configfile", str(config), "--cores", "2", *targets]
    log = work / "killed-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
    return proc, log


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), whatever session or group it put itself in."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_9(proc: subprocess.Popen) -> None:
    """SIGKILL Snakemake and every job under it at once, as a node crash or the OOM killer would: no handler runs,
    nothing is cleaned up, the directory lock stays."""
    victims = descendants(proc.pid)
    for kill, target in [(os.killpg, proc.pid), *((os.kill, pid) for pid in victims)]:  # any job that left the group
        with contextlib.suppress(ProcessLookupError):
            kill(target, signal.SIGKILL)
    proc.wait(timeout=60)


def wait_until(ready, proc: subprocess.Popen, log: Path, what: str, timeout: float = 900) -> None:
    """Poll ``ready()`` every 20 ms while the workflow runs; fail, showing its output, if it ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                kill_9(proc)
            pytest.fail(f"the workflow ended or timed out before {what}:\n{log.read_text()[-4000:]}")
        time.sleep(0.02)


def rerun(work: Path, config: Path, *targets: str) -> str:
    """The same command again, after a kill -9. Snakemake cannot tell a killed run's lock from a live one's and
    refuses to start, naming ``--unlock``; a user unlocks and reruns, and so does this."""
    result = snakemake(work, config, *targets)
    out = result.stdout + result.stderr
    if result.returncode != 0 and "--unlock" in out and "cannot be locked" in out:
        assert snakemake(work, config, "--unlock").returncode == 0
        result = snakemake(work, config, *targets)
        out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    return out


def seeded(work: Path, reference: Path, parts: list[str], edit=None) -> Path:
    """A working directory holding copies of the reference run's ``parts`` (mtimes kept, so Snakemake takes them as
    up to date and runs only what lies below them) and the smoke config, edited by ``edit``; returns the config."""
    for rel in parts:
        shutil.copytree(reference / rel, work / rel)
    return absolute_config(work, edit=edit)


def visible_files(results: Path) -> list[str]:
    """The files a rerun leaves under results/, without run logs and benchmarks (timings) and hidden temporaries."""
    files = (p.relative_to(results) for p in results.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(f.as_posix() for f in files if f.parts[0] not in ("logs", "benchmarks"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int] | None]:
    """Every file and folder under ``root`` but ``skip``, files with their size and mtime: what a fault may not touch.
    Folders count by presence only: a folder's mtime moves when ``skip`` is made in it."""
    out = {}
    for p in root.rglob("*"):
        if p == skip or skip in p.parents:
            continue
        st = p.lstat()
        folder = p.is_dir() and not p.is_symlink()
        out[p.relative_to(root).as_posix()] = None if folder else (st.st_size, st.st_mtime_ns)
    return out


def clear_error(result: subprocess.CompletedProcess, command: str) -> str:
    """The command's stderr, after checking it failed with its one-line message and no traceback."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    assert f"facebench {command}: " in result.stderr, result.stderr[-4000:]
    return result.stderr


# ---------------------------------------------------------------- kill -9, rerun
def longer_training(cfg: dict) -> None:
    cfg["models"][TRAINED]["train"].update(LONGER)


def saved_step(state: Path) -> int:
    import torch

    return int(torch.load(state, map_location="cpu", weights_only=True)["step"])


def test_kill_9_mid_training_then_a_rerun_resumes_to_the_uninterrupted_metrics(smoke_run, tmp_path):
    target = METRICS.format(model=TRAINED)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    config = seeded(whole, smoke_run.work, UPSTREAM, edit=longer_training)
    result = snakemake(whole, config, target)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]

    with fault("kill -9 mid-training, rerun") as f:
        config = seeded(cut, smoke_run.work, UPSTREAM, edit=longer_training)
        state_dir = cut / f"results/train/{TRAINED}/work"

        def past_a_checkpoint() -> bool:  # the state is saved and the loop has gone on: the job is half-way
            with contextlib.suppress(FileNotFoundError):
                rows = (state_dir / "log.tsv").read_text().count("\n") - 1
                return rows > KILL_AFTER_STEP and (state_dir / "state.pt").exists()
            return False

        proc, log = start_workflow(cut, config, target)
        wait_until(past_a_checkpoint, proc, log, f"the training job passed step {KILL_AFTER_STEP}")
        kill_9(proc)
        f.injected()
        outputs = [f"results/models/{TRAINED}/model.pt", f"results/train/{TRAINED}/log.tsv"]
        outputs.append(f"results/train/{TRAINED}/summary.json")
        assert not any((cut / o).exists() for o in outputs), "the training job had finished before the kill"
        step = saved_step(state_dir / "state.pt")  # the checkpoint on disk is whole (weights-only load) ...
        assert KILL_AFTER_STEP <= step < LONGER["steps"]  # ... and from the middle of the run

        rerun(cut, config, target)
        summary = json.loads((cut / f"results/train/{TRAINED}/summary.json").read_text())
        assert summary["resumed_from_step"] == step  # resumed from the kill's checkpoint, not started afresh
        assert (cut / target).read_bytes() == (whole / target).read_bytes()
        assert visible_files(cut / "results") == visible_files(whole / "results")
        columns = slice(0, 5)  # step, epoch, loss, accuracy, lr (images/s is a timing)
        logs = [(w / f"results/train/{TRAINED}/log.tsv").read_text().splitlines() for w in (whole, cut)]
        assert [r.split("\t")[columns] for r in logs[0]] == [r.split("\t")[columns] for r in logs[1]]


def test_kill_9_mid_embedding_then_a_rerun_gives_the_smoke_runs_metrics(smoke_run, tmp_path):
    model = "pretrained"  # the one smoke model whose embedding pass takes seconds, not a blink
    target = METRICS.format(model=model)
    embeddings = tmp_path / f"results/embeddings/{model}/lfw/provided.npz"
    job_log = tmp_path / f"results/logs/embed/{model}-lfw-provided.log"
    with fault("kill -9 mid-embedding, rerun") as f:
        config = seeded(tmp_path, smoke_run.work, [*UPSTREAM, f"results/models/{model}"])

        def embedding() -> bool:  # the progress bar starts once the model is loaded and its graph built
            with contextlib.suppress(FileNotFoundError):
                return "embed:" in job_log.read_text()
            return False

        proc, log = start_workflow(tmp_path, config, target)
        wait_until(embedding, proc, log, "the embed job started embedding")
        kill_9(proc)
        f.injected()
        assert not embeddings.exists(), "the embed job had finished before the kill: nothing was interrupted"

        rerun(tmp_path, config, target)
        assert embeddings.read_bytes() == (smoke_run.work / embeddings.relative_to(tmp_path)).read_bytes()
        assert (tmp_path / target).read_bytes() == (smoke_run.work / target).read_bytes()


def test_the_same_config_run_twice_gives_byte_identical_metrics(smoke_run, tmp_path):
    target = METRICS.format(model=TRAINED)
    with fault("the same config run twice (CPU)") as f:
        result = snakemake(tmp_path, absolute_config(tmp_path), target)  # from the images on, in a new folder
        f.injected()
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        folder = Path(target).parent
        ours, theirs = digests(tmp_path / folder), digests(smoke_run.work / folder)
        assert ours and set(ours) <= set(theirs)
        assert {n: theirs[n] for n in ours} == ours, [n for n in ours if ours[n] != theirs[n]]


# ---------------------------------------------------------------- bad config
def no_such_folder(cfg: dict) -> None:
    cfg["datasets"]["lfw"]["images"]["path"] = "/nonexistent/lfw/images"


BAD_CONFIGS = [
    pytest.param(
        lambda c: c["models"][TRAINED]["train"].update(loss="hingeface"),
        f"config key models.{TRAINED}.train.loss: unknown loss 'hingeface'",
        id="unknown-loss",
    ),
    pytest.param(
        lambda c: c["models"][TRAINED]["train"].update(lr=-0.1),
        f"config key models.{TRAINED}.train.lr: -0.1 is less than or equal to the minimum of 0",
        id="negative-lr",
    ),
    pytest.param(
        lambda c: c["datasets"]["lfw"]["images"].pop("path"),
        "config key datasets.lfw.images: needs exactly one of ['path', 'pip', 'url']",
        id="dataset-path-missing",
    ),
    pytest.param(
        no_such_folder,
        "datasets.lfw.images.path",
        id="dataset-path-not-there",
    ),
]


@pytest.mark.parametrize("edit,message", BAD_CONFIGS)
def test_a_bad_config_is_rejected_before_any_job_naming_the_key(request, tmp_path, edit, message):
    with fault(f"bad config: {request.node.callspec.id}") as f:
        config = absolute_config(tmp_path, edit=edit)
        f.injected()
        result = snakemake(tmp_path, config, METRICS.format(model=TRAINED))
        assert result.returncode != 0
        assert message in result.stdout + result.stderr, (result.stdout + result.stderr)[-4000:]
        assert not (tmp_path / "results").exists()  # every job writes under results/ (its log, at least)


# ---------------------------------------------------------------- downloads
def tar_gz(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """A .tar.gz of (name, kind, data): kind 'file' (data: bytes) or 'symlink' (data: the link's target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def faces(n: int) -> list[tuple[str, str, bytes]]:
    return [(f"lfw/Person_{i:04d}/Person_{i:04d}_0001.jpg", "file", b"\xff\xd8 not decoded here") for i in range(n)]


class Server(http.server.ThreadingHTTPServer):
    """Serves one payload with Range support, ``chunk`` bytes at a time every ``pause`` s (a slow link), and records
    each request's Range header. ``claimed`` bytes are announced and ``body`` sent (a truncated file if fewer)."""

    def __init__(self, body: bytes, claimed: int | None = None, chunk: int = 1 << 16, pause: float = 0.0):
        self.body, self.claimed, self.chunk, self.pause, self.ranges = body, claimed, chunk, pause, []
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/lfw.tgz"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv = self.server
        rng = self.headers.get("Range")
        srv.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = srv.body[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str((srv.claimed or len(srv.body)) - start))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may be killed mid-transfer
            for lo in range(0, len(body), srv.chunk):
                self.wfile.write(body[lo : lo + srv.chunk])
                time.sleep(srv.pause)

    def log_message(self, *args):
        pass


@pytest.fixture()
def serve():
    servers = []

    def start(body: bytes, **kw) -> Server:
        servers.append(Server(body, **kw))
        return servers[-1]

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def fetch_dataset(tmp: Path, images: dict) -> tuple[subprocess.CompletedProcess, Path]:
    """The fetch_dataset rule's command for a dataset whose images come from ``images`` (an archive source)."""
    out = tmp / "out"
    return facebench("fetch-dataset", "lfw", "--spec", json.dumps({"images": images}), "--out", out, cwd=tmp), out


def untouched_outside(tmp: Path, out: Path, before: dict) -> None:
    """Nothing outside the target folder changed, and inside it nothing but the kept download: no manifest, no
    extracted images, no staging folder."""
    assert snapshot(tmp, skip=out) == before
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left in ([], ["downloads"], ["downloads", "downloads/lfw.tgz"]), left


def test_a_good_archive_is_accepted(tmp_path):
    """The harness of the download faults, without a fault: the same command takes a sound archive."""
    archive = tar_gz(tmp_path / "lfw.tgz", faces(3))
    result, out = fetch_dataset(tmp_path, {"path": str(archive), "sha256": sha256(archive), "subdir": "lfw"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads((out / "manifest.json").read_text())["n_images"] == 3


ESCAPE = "lfw/../../../../escaped.txt"  # from the staging folder in out/, past tmp_path itself


@pytest.mark.parametrize("case", ["../ member", "symlink out", "member count", "truncated", "wrong checksum"])
def test_a_bad_download_is_refused_and_writes_nothing_outside_its_folder(tmp_path, serve, case):
    src, work = tmp_path / "src", tmp_path / "work"
    src.mkdir()
    work.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    if case == "../ member":
        archive, message = tar_gz(src / "lfw.tgz", [*faces(2), (ESCAPE, "file", b"x")]), "escapes the target with '..'"
    elif case == "symlink out":  # a link to a folder outside, then a member written through it
        through = [("lfw/link", "symlink", str(outside)), ("lfw/link/escaped.txt", "file", b"x")]
        archive = tar_gz(src / "lfw.tgz", [*faces(2), *through])
        message = "'lfw/link' is a link"
    elif case == "member count":
        archive, message = tar_gz(src / "lfw.tgz", faces(2001)), "more than 2000 members (limit max_members)"
    else:
        archive, message = tar_gz(src / "lfw.tgz", faces(400)), "(the partial file was removed)"
    source = {"path": str(archive), "sha256": sha256(archive), "subdir": "lfw", "max_members": 2000}
    if case == "truncated":  # the server announces and sends half the file: a complete-looking, short download
        body = archive.read_bytes()
        srv = serve(body[: len(body) // 2], claimed=len(body) // 2)
        source = {"url": srv.url, "sha256": sha256(archive)}
    elif case == "wrong checksum":
        source["sha256"] = hashlib.sha256(b"another archive").hexdigest()
    with fault(f"download: {case}") as f:
        before = snapshot(tmp_path, skip=work / "out")
        result, out = fetch_dataset(work, source)
        f.injected()
        assert message in clear_error(result, "fetch-dataset")
        if case in ("truncated", "wrong checksum"):
            assert "datasets.lfw.images.sha256: " in result.stderr  # names the config key to check
        untouched_outside(tmp_path, out, before)
        assert not any(outside.iterdir()) and not list(tmp_path.rglob("escaped.txt"))


def test_a_download_killed_mid_transfer_resumes_and_is_verified(tmp_path, serve):
    payload = os.urandom(4 << 20)
    srv = serve(payload, chunk=1 << 16, pause=0.03)  # ~2 MB/s: the kill lands mid-transfer
    dest = tmp_path / "weights" / "net.pt"
    part = dest.with_name(dest.name + ".part")
    spec = json.dumps({"url": srv.url, "sha256": hashlib.sha256(payload).hexdigest()})
    args = ["fetch-file", "--spec", spec, "--key", "models.x.weights", "--out", str(dest)]
    with fault("download: kill -9 mid-transfer, rerun") as f:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        argv = [sys.executable, "-m", "facebench", *args]
        proc = subprocess.Popen(argv, cwd=tmp_path, env=child_env(), start_new_session=True, **quiet)
        deadline = time.monotonic() + 300
        while not (part.exists() and part.stat().st_size >= 1 << 20) and proc.poll() is None:
            assert time.monotonic() < deadline, "the download never got under way"
            time.sleep(0.02)
        assert proc.poll() is None, "the download ended before the kill"
        kill_9(proc)
        f.injected()
        assert not dest.exists(), "the download had finished before the kill"
        have = part.stat().st_size
        assert 0 < have < len(payload)
        srv.pause = 0.0
        result = facebench(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-4000:]
        assert dest.read_bytes() == payload and not part.exists()
        assert srv.ranges[-1] == f"bytes={have}-"  # resumed from the partial file, not fetched again


def test_a_full_disk_mid_download_is_a_clear_error_and_the_rerun_resumes(tmp_path, serve):
    payload = os.urandom(1 << 20)
    srv = serve(payload)
    dest = tmp_path / "weights" / "net.pt"
    part = dest.with_name(dest.name + ".part")
    spec = json.dumps({"url": srv.url, "sha256": hashlib.sha256(payload).hexdigest()})
    args = ["fetch-file", "--spec", spec, "--key", "models.x.weights", "--out", str(dest)]
    with fault("disk full: download (file size limit)") as f:
        result = facebench(*args, cwd=tmp_path, max_file_bytes=300_000)
        f.injected()
        stderr = clear_error(result, "fetch-file")
        assert result.returncode == NO_SPACE_EXIT, stderr[-3000:]
        assert f"models.x.weights: cannot write {part}: " in stderr, stderr[-3000:]
        assert f"the 300000 bytes downloaded so far are kept in {part}, and a rerun resumes there" in stderr
        assert not dest.exists() and part.read_bytes() == payload[:300_000]
        result = facebench(*args, cwd=tmp_path)  # space again
        assert result.returncode == 0, result.stderr[-4000:]
        assert dest.read_bytes() == payload and not part.exists() and srv.ranges[-1] == "bytes=300000-"


# ---------------------------------------------------------------- checkpoints carrying code
class CodeOnLoad:
    """Pickles as a call of exec: loading it with full unpickling runs ``code``."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


@pytest.fixture()
def evil(tmp_path):
    """A checkpoint that writes a marker file when unpickled in full; returns (its path, the marker)."""
    import torch

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    hook = CodeOnLoad(f"open({str(marker)!r}, 'w').write('code ran')")
    torch.save({"format": "facebench-model", "version": 1, "state_dict": {"w": torch.zeros(2)}, "hook": hook}, path)
    torch.load(path, weights_only=False)  # the payload is live: an unsafe load would run it
    assert marker.exists()
    marker.unlink()
    return path, marker


# each: (tmp, the evil file, the smoke run's folder or None) -> (command line, its output, the file it must name)
def _import_weights(tmp, evil_path, _):
    spec = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())["models"]["pretrained"]
    spec["weights"] = {"path": str(evil_path), "sha256": sha256(evil_path), "key_prefix": "arcface."}
    out = tmp / "results/models/pretrained/model.pt"
    # the file as rule fetch_weights leaves it (checksum-pinned, verified); the import reads it and leaves it in place
    source = out.with_name("source.pth")
    source.parent.mkdir(parents=True)
    shutil.copyfile(evil_path, source)
    argv = ["import-weights", "pretrained", "--spec", json.dumps(spec), "--source", source, "--out", out]
    return argv, out, source


def _landmarks(tmp, evil_path, _):
    import cv2
    import numpy as np

    images, weights = tmp / "images", tmp / "mtcnn"
    (images / "A").mkdir(parents=True)
    cv2.imwrite(str(images / "A/A_0001.jpg"), np.full((64, 64, 3), 128, np.uint8))
    weights.mkdir()
    for net in ("pnet", "rnet", "onet"):
        shutil.copyfile(evil_path, weights / f"{net}.pt")
    out = tmp / "mtcnn.tsv"
    return ["landmarks", images, "--weights", weights, "-o", out, "--device", "cpu"], out, weights / "pnet.pt"


def _train_args(tmp, smoke, **extra):
    spec = json.loads((smoke / f"results/train/{TRAINED}/summary.json").read_text())["spec"]  # as the rule passed it
    out = tmp / "model.pt"
    argv = ["train", TRAINED, "--spec", json.dumps(spec), "--store", smoke / STORE]
    argv += ["--train-list", smoke / "results/protocols/lfw/train.tsv", "--out", out, "--log", tmp / "log.tsv"]
    argv += ["--summary", tmp / "summary.json", "--work", tmp / "work", "--device", "cpu", "--threads", "1"]
    for key, value in extra.items():
        argv += [f"--{key}", value]
    return argv, out


def _train_resume(tmp, evil_path, smoke):
    (tmp / "work").mkdir()
    shutil.copyfile(evil_path, tmp / "work/state.pt")  # a resumable state, swapped for one that carries code
    return *_train_args(tmp, smoke), tmp / "work/state.pt"


def _train_init(tmp, evil_path, smoke):
    return *_train_args(tmp, smoke, init=evil_path), evil_path


def _embed(tmp, evil_path, smoke):
    out = tmp / "embeddings.npz"
    argv = ["embed", "--model", evil_path, "--store", smoke / STORE, "--out", out, "--device", "cpu"]
    return [*argv, "--images", smoke / "results/protocols/lfw/eval-images.txt"], out, evil_path


@pytest.mark.parametrize(
    "entry,on_smoke",
    [
        pytest.param(_import_weights, False, id="import-weights"),
        pytest.param(_landmarks, False, id="landmarks"),
        pytest.param(_train_resume, True, id="train-resume"),
        pytest.param(_train_init, True, id="train-init"),
        pytest.param(_embed, True, id="embed"),
    ],
)
def test_a_checkpoint_carrying_code_is_refused_by_every_command_that_loads_one(
    request, tmp_path, evil, entry, on_smoke
):
    evil_path, marker = evil
    argv, out, named = entry(tmp_path, evil_path, request.getfixturevalue("smoke_run").work if on_smoke else None)
    with fault(f"pickled code: {request.node.callspec.id}") as f:
        result = facebench(*argv, cwd=tmp_path)
        f.injected()
        stderr = clear_error(result, argv[0])
        assert result.returncode == 2
        assert WEIGHTS_ONLY_REFUSAL in stderr, stderr[-3000:]  # one loader (facebench.models.checkpoint) for all
        assert f"{named}: " in stderr, stderr[-3000:]  # names the file
        assert not marker.exists() and not out.exists()
        if argv[0] == "import-weights":  # the fetched source is rule fetch_weights' output: refused, left in place
            assert named.exists()


# ---------------------------------------------------------------- disk full
@contextlib.contextmanager
def small_tmpfs(folder: Path, size: int):
    """A tmpfs of ``size`` bytes mounted on ``folder``: a real full disk. Root only; skips where mount is refused."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    mounted = subprocess.run(mount, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'mount failed'}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def align_args(smoke: Path, out: Path) -> list:
    """The align rule's command for the provided store."""
    argv = ["align", "--manifest", smoke / "results/data/lfw/manifest.json", "--out", out]
    argv += ["--images", smoke / "results/protocols/lfw/images.txt", "--method", "landmarks"]
    argv += ["--landmarks", smoke / "results/landmarks/lfw/provided.tsv", "--template", "arcface112"]
    return [*argv, "--frame", "250", "250", "--on-error", "fail", "--threads", "2"]


def no_space_error(result: subprocess.CompletedProcess, command: str, path: Path) -> None:
    stderr = clear_error(result, command)
    assert result.returncode == NO_SPACE_EXIT, stderr[-3000:]
    assert f"cannot write {path}: " in stderr and "was left as it was" in stderr, stderr[-3000:]


@pytest.mark.parametrize("disk", ["file size limit", "full tmpfs"])
def test_a_full_disk_while_writing_an_aligned_store_keeps_the_previous_store(smoke_run, tmp_path, disk):
    source = smoke_run.work / STORE
    size = (source / "faces.npy").stat().st_size
    with contextlib.ExitStack() as stack:
        root = tmp_path
        if disk == "full tmpfs":  # room for the old store, not for a second copy
            root = stack.enter_context(small_tmpfs(tmp_path / "disk", size + (4 << 20)))
        store = root / "store"
        shutil.copytree(source, store)  # the previous, complete store
        before = digests(store)
        with fault(f"disk full: aligned store ({disk})") as f:
            limit = size // 4 if disk == "file size limit" else None
            result = facebench(*align_args(smoke_run.work, store), cwd=tmp_path, max_file_bytes=limit)
            f.injected()
            no_space_error(result, "align", store / "faces.npy")
            assert digests(store) == before  # byte for byte, and no temporary left beside it


def test_a_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(smoke_run, tmp_path):
    done = smoke_run.work / f"results/train/{TRAINED}/work/state.pt"
    argv, model = _train_args(tmp_path, smoke_run.work)
    (tmp_path / "work").mkdir()
    state = tmp_path / "work/state.pt"
    shutil.copyfile(done, state)  # the last checkpoint of a finished run: the rerun resumes it and saves it again
    shutil.copyfile(smoke_run.work / f"results/models/{TRAINED}/model.pt", model)
    before = {p: sha256(p) for p in (state, model)}
    with fault("disk full: training checkpoint (file size limit)") as f:
        result = facebench(*argv, cwd=tmp_path, max_file_bytes=state.stat().st_size // 2)
        f.injected()
        no_space_error(result, "train", state)
        assert {p: sha256(p) for p in before} == before
        assert sorted(p.name for p in state.parent.iterdir()) == ["state.pt"]  # no temporary left
