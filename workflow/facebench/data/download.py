"""Fetch a file from an https/file URL, a local path or a Python package, resumably, and verify its sha256.

A source is a config mapping: ``{url: https://..., sha256: ...}``, ``{path: some/file, sha256: ...}`` or
``{pip: "name==version", sha256: ...}``. The download goes to ``<dest>.part``; an interrupted download resumes from
there with an HTTP Range request, and a file whose checksum does not match is removed before the error is raised, so
it can never be taken as complete. A package's file (a wheel) is fetched by the package index's own client,
``pip download``, so the user's pip configuration (index, mirrors, proxies, certificates) applies.
"""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from facebench.io import DiskFullError, disk_full, out_of_space, sha256_file


class ChecksumError(ValueError):
    pass


class DownloadError(RuntimeError):
    """A source could not be fetched (its client failed or is missing). The command line prints the message alone
    (no traceback) and exits with ``exit_code``."""

    exit_code = 69  # EX_UNAVAILABLE of sysexits.h


def origin(source: dict) -> str | None:
    """Where a source's bytes come from, as the manifests and model files record it."""
    if "pip" in source:
        return f"pip download {source['pip']}"
    return source.get("url") or source.get("path")


def _progress(total: int | None, desc: str):
    from facebench.progress import bar

    return bar(total, desc, unit="B", unit_scale=True)


def _http_download(url: str, part: Path, timeout: float, retries: int) -> None:
    for attempt in range(1, retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "facebench"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                if have and resp.status != 206:  # server ignored the Range: start again
                    have = 0
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with open(part, "ab" if have else "wb") as out, _progress(total, part.name) as bar:
                    bar.update(have)
                    while block := resp.read(1 << 20):
                        out.write(block)
                        bar.update(len(block))
            if total is not None and part.stat().st_size < total:  # the server closed early: resume from here
                raise ConnectionError(f"connection closed at {part.stat().st_size} of {total} bytes")
            return
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # asked past the end: the .part file is already whole (or wrong; sha decides)
                return
            if attempt == retries or err.code < 500:
                raise RuntimeError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            if attempt == retries:
                raise RuntimeError(f"download of {url} failed after {retries} attempts: {err}") from err
        time.sleep(min(2 ** (attempt - 1), 30))


def _pip_download(requirement: str, part: Path, *, key: str) -> str:
    """``pip download`` of one distribution file (no dependencies, a wheel or other binary only) onto ``part``, by the
    pip of this interpreter; returns where it came from."""
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=part.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:", "-d", tmp,
               "--no-input", "--disable-pip-version-check"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as err:
            raise DownloadError(f"{key}.pip: cannot run {sys.executable} -m pip: {err}") from err
        if done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip()).splitlines()
            if any("No module named pip" in line for line in output):
                raise DownloadError(f"{key}.pip: pip is not installed for {sys.executable}, so {requirement!r} cannot "
                                   "be fetched; install pip in this environment, or give the file by url or path")
            tail = "\n    ".join(output[-8:]) or "(no output)"
            raise DownloadError(f"{key}.pip: `pip download {requirement}` failed (exit {done.returncode}); pip "
                               f"said:\n    {tail}")
        files = sorted(p for p in Path(tmp).iterdir() if p.is_file())
        if len(files) != 1:
            raise DownloadError(f"{key}.pip: `pip download {requirement}` gave {len(files)} files "
                               f"({', '.join(p.name for p in files) or 'none'}), expected one")
        shutil.move(str(files[0]), part)
        return f"pip download {requirement} ({files[0].name})"


def fetch(source: dict, dest: str | os.PathLike, *, key: str, timeout: float = 60.0, retries: int = 5) -> Path:
    """Make ``dest`` a verified copy of ``source`` (config key ``key`` is named in every error).

    With ``member``, the source is an archive (zip, wheel or tar; checked against ``sha256``) and ``dest`` becomes
    that one member, checked against ``member_sha256``. A ``pip`` source is always downloaded anew (pip's own cache
    makes a repeat cheap); the archive is removed once its member is out.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if "member" in source:
        from facebench.data.extract import read_member

        archive = fetch({k: v for k, v in source.items() if k not in ("member", "member_sha256")},
                        dest.with_name(dest.name + ".archive"), key=key, timeout=timeout, retries=retries)
        part = dest.with_name(dest.name + ".part")
        try:  # the archive goes whether its member is taken out or refused: a rerun fetches it again anyway
            part.write_bytes(read_member(archive, source["member"]))
            verify(part, source.get("member_sha256"), key=key, field="member_sha256",
                   origin=f"{archive}:{source['member']}", remove_on_mismatch=True)
        finally:
            archive.unlink(missing_ok=True)
        os.replace(part, dest)
        return dest
    part = dest.with_name(dest.name + ".part")
    try:
        origin = _copy_or_download(source, part, key=key, timeout=timeout, retries=retries)
    except OSError as err:
        if not out_of_space(err):
            raise
        if urllib.parse.urlparse(source.get("url", "")).scheme in ("http", "https"):  # resumes from its .part
            got = part.stat().st_size if part.exists() else 0
            kept = f"the {got} bytes downloaded so far are kept in {part}, and a rerun resumes there"
        else:
            part.unlink(missing_ok=True)
            kept = "the partial copy was removed"
        raise DiskFullError(f"{key}: {disk_full(err, dest, written=part, note=kept + '; ')}") from err
    verify(part, source.get("sha256"), key=key, origin=origin, remove_on_mismatch=True)
    os.replace(part, dest)
    return dest


def _copy_or_download(source: dict, part: Path, *, key: str, timeout: float, retries: int) -> str:
    """Write the source's bytes onto ``part``; returns where they came from."""
    if "url" in source:
        url = source["url"]
        scheme = urllib.parse.urlparse(url).scheme
        if scheme == "file":
            shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), part)
        elif scheme in ("http", "https"):
            _http_download(url, part, timeout, retries)
        else:
            raise ValueError(f"{key}.url: unsupported scheme {scheme!r} in {url!r} (use https://, file:// or path:)")
        return url
    if "path" in source:
        src = Path(source["path"])
        if not src.is_file():
            raise FileNotFoundError(f"{key}.path: {src} is not a file")
        shutil.copyfile(src, part)
        return str(src)
    if "pip" in source:
        return _pip_download(source["pip"], part, key=key)
    raise ValueError(f"{key}: a source needs 'url', 'path' or 'pip'")


def verify(path: Path, expected: str | None, *, key: str, origin: str, remove_on_mismatch: bool = False,
           field: str = "sha256") -> str:
    """Check ``path`` against the configured sha256 (None: no pin, only recorded)."""
    got = sha256_file(path)
    if expected is not None and got.lower() != expected.lower():
        if remove_on_mismatch:
            path.unlink(missing_ok=True)
        raise ChecksumError(f"{key}.{field}: {origin} has sha256 {got}, config expects {expected}"
                            + (" (the partial file was removed)" if remove_on_mismatch else ""))
    return got
