"""Safe extraction of tar and zip archives.

Every member is checked before anything is written: no absolute path, no ``..`` component, no link, device or FIFO,
and no more members or bytes than the limits. Extraction goes to a temporary folder beside the target, renamed into
place when complete. Tar members are additionally extracted with Python's ``filter='data'``.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 1_000_000
MAX_BYTES = 64 << 30


class UnsafeArchiveError(ValueError):
    pass


def _check_name(archive: Path, name: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} escapes the target with '..'")


def _check_totals(archive: Path, n: int, size: int, max_members: int, max_bytes: int) -> None:
    if n > max_members:
        raise UnsafeArchiveError(f"{archive}: more than {max_members} members (limit max_members)")
    if size > max_bytes:
        raise UnsafeArchiveError(f"{archive}: members total more than {max_bytes} bytes (limit max_bytes)")


def _check_tar(archive: Path, tar: tarfile.TarFile, max_members: int, max_bytes: int) -> None:
    n = size = 0
    for m in tar:
        n += 1
        size += max(m.size, 0)
        _check_totals(archive, n, size, max_members, max_bytes)
        _check_name(archive, m.name)
        if m.issym() or m.islnk():
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link (to {m.linkname!r}); links are refused")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is not a regular file or folder")


def _check_zip(archive: Path, zf: zipfile.ZipFile, max_members: int, max_bytes: int) -> None:
    n = size = 0
    for info in zf.infolist():
        n += 1
        size += info.file_size
        _check_totals(archive, n, size, max_members, max_bytes)
        _check_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link; links are refused")


def extract(archive: str | os.PathLike, target: str | os.PathLike, *, max_members: int = MAX_MEMBERS,
            max_bytes: int = MAX_BYTES) -> Path:
    """Extract ``archive`` (tar, tar.gz/bz2/xz, zip) into the new folder ``target``; refuse unsafe members."""
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                _check_tar(archive, tar, max_members, max_bytes)
                tar.extractall(staging, filter="data")
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _check_zip(archive, zf, max_members, max_bytes)
                zf.extractall(staging)
        else:
            raise UnsafeArchiveError(f"{archive}: not a tar or zip archive")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_member(archive: str | os.PathLike, member: str, *, max_bytes: int = 1 << 30) -> bytes:
    """The bytes of one regular-file member of a zip or tar archive (a wheel, say), refusing links and huge files."""
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise UnsafeArchiveError(f"{archive}: no member {member!r}") from None
            if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16) or info.file_size > max_bytes:
                raise UnsafeArchiveError(f"{archive}: member {member!r} is not a regular file under {max_bytes} bytes")
            return zf.read(info)
    with tarfile.open(archive) as tar:
        try:
            info = tar.getmember(member)
        except KeyError:
            raise UnsafeArchiveError(f"{archive}: no member {member!r}") from None
        if not info.isfile() or info.size > max_bytes:
            raise UnsafeArchiveError(f"{archive}: member {member!r} is not a regular file under {max_bytes} bytes")
        return tar.extractfile(info).read()
