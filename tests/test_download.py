"""Downloads: checksums, resume with HTTP Range, partial files removed on mismatch; safe archive extraction."""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import sys
import tarfile
import threading
import zipfile

import pytest
from facebench.data.download import ChecksumError, DownloadError, fetch
from facebench.data.extract import UnsafeArchiveError, extract

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first full request is cut off after 100 kB (a dropped connection)."""
    requests: list[str] = []
    cut_first = True

    def do_GET(self):  # noqa: N802 (http.server's naming)
        rng = self.headers.get("Range")
        type(self).requests.append(rng or "full")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not rng and type(self).cut_first:
            type(self).cut_first = False
            self.wfile.write(body[:100_000])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    RangeHandler.requests = []
    RangeHandler.cut_first = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
    httpd.shutdown()


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    dest = fetch({"url": server, "sha256": SHA}, tmp_path / "file.bin", key="datasets.x.images", retries=3)
    assert dest.read_bytes() == PAYLOAD
    assert RangeHandler.requests[0] == "full" and RangeHandler.requests[1].startswith("bytes=100000-")
    assert not (tmp_path / "file.bin.part").exists()


def test_checksum_mismatch_removes_the_partial_file_and_names_the_key(server, tmp_path):
    RangeHandler.cut_first = False
    with pytest.raises(ChecksumError, match=r"datasets.x.images.sha256: .* config expects 0{64} \(the partial file "
                                            r"was removed\)"):
        fetch({"url": server, "sha256": "0" * 64}, tmp_path / "file.bin", key="datasets.x.images")
    assert not (tmp_path / "file.bin").exists() and not (tmp_path / "file.bin.part").exists()


def test_local_path_and_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    assert fetch({"path": str(src), "sha256": SHA}, tmp_path / "a.bin", key="k").read_bytes() == PAYLOAD
    assert fetch({"url": src.as_uri(), "sha256": SHA}, tmp_path / "b.bin", key="k").read_bytes() == PAYLOAD
    with pytest.raises(FileNotFoundError, match=r"k.path: .*none.bin is not a file"):
        fetch({"path": str(tmp_path / "none.bin")}, tmp_path / "c.bin", key="k")
    with pytest.raises(ValueError, match=r"k.url: unsupported scheme 'ftp'"):
        fetch({"url": "ftp://x/y"}, tmp_path / "d.bin", key="k")


# ---------------------------------------------------------------- archives
def make_tar(path, members):
    """members: (name, kind, payload_or_linkname)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    return path


def test_a_good_archive_extracts(tmp_path):
    arc = make_tar(tmp_path / "ok.tgz", [("lfw/A/A_0001.jpg", "file", b"jpeg"), ("lfw/B/B_0001.jpg", "file", b"j")])
    out = extract(arc, tmp_path / "out")
    assert (out / "lfw/A/A_0001.jpg").read_bytes() == b"jpeg"


@pytest.mark.parametrize("members,match", [
    ([("../evil.txt", "file", b"x")], "escapes the target with '..'"),
    ([("lfw/../../evil.txt", "file", b"x")], "escapes the target"),
    ([("/tmp/evil.txt", "file", b"x")], "absolute path"),
    ([("lfw/link", "symlink", "/etc/passwd")], "is a link"),
    ([("lfw/link", "symlink", "../../outside")], "is a link"),
    ([("lfw/a", "file", b"x"), ("lfw/hard", "hardlink", "../../../etc/passwd")], "is a link"),
    ([("lfw/pipe", "fifo", None)], "not a regular file"),
])
def test_unsafe_tar_members_are_refused_and_nothing_is_written(tmp_path, members, match):
    arc = make_tar(tmp_path / "bad.tgz", members)
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=match):
        extract(arc, target)
    assert not target.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()
    assert [p.name for p in (tmp_path / "deep").iterdir()] == []  # no staging folder left behind


def test_member_count_and_size_limits(tmp_path):
    arc = make_tar(tmp_path / "many.tgz", [(f"f{i}", "file", b"x") for i in range(50)])
    with pytest.raises(UnsafeArchiveError, match="more than 10 members"):
        extract(arc, tmp_path / "out", max_members=10)
    with pytest.raises(UnsafeArchiveError, match="more than 20 bytes"):
        extract(arc, tmp_path / "out", max_bytes=20)


def test_unsafe_zip_members_are_refused(tmp_path):
    arc = tmp_path / "bad.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="escapes the target"):
        extract(arc, tmp_path / "out")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("lfw/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="is a link"):
        extract(link, tmp_path / "out2")
    (tmp_path / "plain.bin").write_bytes(b"nothing")
    with pytest.raises(UnsafeArchiveError, match="not a tar or zip"):
        extract(tmp_path / "plain.bin", tmp_path / "out3")


def test_a_member_of_an_archive_is_fetched_and_checked(tmp_path):
    wheel = tmp_path / "pkg.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/data/net.pt", b"weights")
        zf.writestr("pkg/other.txt", b"x")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    good = hashlib.sha256(b"weights").hexdigest()
    source = {"path": str(wheel), "sha256": sha, "member": "pkg/data/net.pt", "member_sha256": good}
    out = fetch(source, tmp_path / "out" / "net.pt", key="detect.mtcnn.weights.pnet")
    assert out.read_bytes() == b"weights"
    assert sorted(p.name for p in out.parent.iterdir()) == ["net.pt"]  # no archive or partial file left
    with pytest.raises(ChecksumError, match=r"detect.mtcnn.weights.pnet.member_sha256: .* has sha256"):
        fetch({**source, "member_sha256": "0" * 64}, tmp_path / "bad" / "net.pt", key="detect.mtcnn.weights.pnet")
    assert not (tmp_path / "bad" / "net.pt").exists() and not (tmp_path / "bad" / "net.pt.part").exists()
    with pytest.raises(UnsafeArchiveError, match="no member 'pkg/missing.pt'"):
        fetch({**source, "member": "pkg/missing.pt"}, tmp_path / "m" / "net.pt", key="k")
    with pytest.raises(ChecksumError, match=r"k.sha256"):
        fetch({**source, "sha256": "1" * 64}, tmp_path / "w" / "net.pt", key="k")


# ---------------------------------------------------------------- a package's file, by pip's own client
def make_wheel(folder, name="fbtestpkg", version="1.0", payload=b"weights"):
    """A minimal pure wheel holding ``<name>/data/net.pt``, as a package index would serve it."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}/data/net.pt", payload)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture()
def local_index(tmp_path, monkeypatch):
    """pip's own configuration pointed at a folder of wheels: no index, no network, no user pip.conf."""
    wheels = tmp_path / "wheels"
    wheel = make_wheel(wheels)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    return wheel


def pip_source(wheel, **extra):
    return {"pip": "fbtestpkg==1.0", "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "member": "fbtestpkg/data/net.pt", "member_sha256": hashlib.sha256(b"weights").hexdigest(), **extra}


def test_a_member_of_a_wheel_is_fetched_by_pip_and_checked(local_index, tmp_path):
    out = fetch(pip_source(local_index), tmp_path / "out" / "net.pt", key="detect.mtcnn.weights.pnet")
    assert out.read_bytes() == b"weights"
    assert sorted(p.name for p in out.parent.iterdir()) == ["net.pt"]  # no wheel, partial file or pip folder left


def test_a_wheel_with_the_wrong_sha256_is_refused_naming_the_key(local_index, tmp_path):
    dest = tmp_path / "bad" / "net.pt"
    with pytest.raises(ChecksumError, match=r"detect.mtcnn.weights.pnet.sha256: pip download fbtestpkg==1.0 "
                                            r"\(fbtestpkg-1.0-py3-none-any.whl\) has sha256 [0-9a-f]{64}, config "
                                            r"expects 1{64} \(the partial file was removed\)"):
        fetch(pip_source(local_index, sha256="1" * 64), dest, key="detect.mtcnn.weights.pnet")
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(ChecksumError, match=r"detect.mtcnn.weights.pnet.member_sha256: "):
        fetch(pip_source(local_index, member_sha256="2" * 64), dest, key="detect.mtcnn.weights.pnet")
    assert list(dest.parent.iterdir()) == []


def test_a_failed_pip_download_is_a_clear_error_naming_the_key(local_index, tmp_path, capsys):
    from facebench.cli import main

    with pytest.raises(DownloadError, match=r"^k.pip: `pip download fbtestpkg==2.0` failed \(exit \d+\); pip said:"):
        fetch(pip_source(local_index, pip="fbtestpkg==2.0"), tmp_path / "a" / "net.pt", key="k")
    assert list((tmp_path / "a").iterdir()) == []
    # the command prints that one message, without a traceback, and exits with EX_UNAVAILABLE
    spec = json.dumps(pip_source(local_index, pip="fbtestpkg==2.0"))
    code = main(["fetch-file", "--spec", spec, "--key", "detect.mtcnn.weights.onet", "--out", str(tmp_path / "b.pt")])
    err = capsys.readouterr().err
    assert code == DownloadError.exit_code == 69
    assert err.startswith("facebench fetch-file: detect.mtcnn.weights.onet.pip: `pip download fbtestpkg==2.0` failed")


def test_a_python_without_pip_is_named(local_index, tmp_path, monkeypatch):
    fake = tmp_path / "python-without-pip"
    fake.write_text("#!/bin/sh\necho \"$0: No module named pip\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(DownloadError, match=r"k.pip: pip is not installed for .*python-without-pip, so "
                                            r"'fbtestpkg==1.0' cannot be fetched"):
        fetch(pip_source(local_index), tmp_path / "c" / "net.pt", key="k")


def test_the_schema_takes_a_pinned_pip_source_only(tmp_path):
    from facebench.config import ConfigError, validate_schema
    from facebench.schema import SCHEMA

    def config(source):
        return {"datasets": {"d": {"images": {"path": "x"}, "files": {}}},
                "evaluate": [{"model": "m", "dataset": "d", "alignments": ["a"]}],
                "models": {"m": {"backbone": "b", "input": {"template": "arcface112"}, "weights": source}}}

    validate_schema(config({"pip": "facenet-pytorch==2.6.0", "member": "a/b.pt"}), SCHEMA)
    with pytest.raises(ConfigError, match=r"config key models.m.weights.pip: 'facenet-pytorch' does not match"):
        validate_schema(config({"pip": "facenet-pytorch"}), SCHEMA)
    with pytest.raises(ConfigError, match=r"config key models.m.weights: .* is valid under each of"):
        validate_schema(config({"pip": "facenet-pytorch==2.6.0", "url": "https://example.invalid/x.whl"}), SCHEMA)
