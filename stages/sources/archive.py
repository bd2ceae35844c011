"""Large downloads that survive a dropped connection, and tar archives that cannot escape.

A dataset archive is gigabytes: a download resumes from what an earlier attempt left in
`<destination>.partial` rather than starting over, and only a file whose sha256 matches the
published digest ever takes the destination's name, so a truncated or tampered file is never
mistaken for the real one. Archives come from the network, so every member is checked before
anything is written: a tar can name `../x`, `/etc/x` or a link leading out of the target.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator

from tqdm import tqdm

from stages import atomic
from stages.errors import PipelineError

ATTEMPTS = 5
"""Connections tried per `fetch`, each resuming where the previous one stopped."""
RETRY_DELAY_S = 2.0
"""Wait before the n-th retry: n times this, so a flaky network gets time to recover."""
TIMEOUT_S = 60
"""A connection silent for this long counts as dropped and is retried."""
CHUNK = 1 << 20


def fetch(url: str, destination: Path, sha256: str) -> Path:
    """Download `url` to `destination` unless a file with digest `sha256` is already there.

    Bytes go to `<destination>.partial`; a dropped connection is retried with a `Range`
    request for the rest (a server that ignores it and sends the whole file restarts the
    download), and running again after a failure resumes too. A digest mismatch deletes the
    download and raises `PipelineError`; a stale file at `destination` is downloaded afresh.
    """
    destination, expected = Path(destination), sha256.lower()
    if destination.exists():
        if _digest(destination) == expected:
            return destination
        destination.unlink()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _download(url, partial)
            break
        except (OSError, http.client.HTTPException) as error:
            if attempt == ATTEMPTS:
                raise PipelineError(
                    f"{url}: download failed after {ATTEMPTS} attempts ({error}); run again to resume from {partial}"
                ) from None
            time.sleep(RETRY_DELAY_S * attempt)
    actual = _digest(partial)
    if actual != expected:
        partial.unlink()
        raise PipelineError(f"{url}: sha256 mismatch (expected {expected}, got {actual}); the download was deleted")
    os.replace(partial, destination)
    return destination


def _download(url: str, partial: Path) -> None:
    """Append the rest of `url` to `partial`; raise `ConnectionError` if the body ends early."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return  # nothing left past `offset`: the partial file is whole, the digest will tell
        if error.code >= 500:
            raise  # the server's trouble, perhaps passing: retried
        raise PipelineError(f"{url}: HTTP {error.code} {error.reason}") from None
    with response:
        if response.status != 206:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with open(partial, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, desc=partial.name.removesuffix(".partial"),
            unit="B", unit_scale=True, unit_divisor=1024,
        ) as progress:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                progress.update(len(chunk))
    received = partial.stat().st_size
    if total is not None and received < total:
        raise ConnectionError(f"connection closed after {received:,} of {total:,} bytes")


def _digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def extract(archive: Path, target: Path) -> None:
    """Unpack a tar (optionally gzip/bzip2/xz-compressed) archive into `target`, whole or not at all.

    Every member is checked before it is written (see `_refusal`); the first unsafe one
    raises `PipelineError` naming it and discards what was unpacked so far. Python's `data`
    extraction filter, where available, checks again against the real file system.
    """
    archive, target = Path(archive), Path(target)
    options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with atomic.output_dir(target) as partial, open(archive, "rb") as raw, tqdm.wrapattr(
            raw, "read", total=archive.stat().st_size, desc=f"extract {archive.name}",
            unit="B", unit_scale=True, unit_divisor=1024,
        ) as stream, tarfile.open(fileobj=stream, mode="r:*") as tar:
            tar.extractall(partial, members=_checked(tar, archive), **options)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise PipelineError(f"{archive}: cannot extract ({error})") from None


def _checked(tar: tarfile.TarFile, archive: Path) -> Iterator[tarfile.TarInfo]:
    """The archive's members in order, each checked, so the archive is read in one pass."""
    symlinks: set[PurePosixPath] = set()
    for member in tar:
        reason = _refusal(member, symlinks)
        if reason:
            raise PipelineError(f"{archive}: refusing member {member.name!r}: {reason}")
        if member.issym():
            symlinks.add(_normal(member.name))
        yield member


def _refusal(member: tarfile.TarInfo, symlinks: set[PurePosixPath]) -> str | None:
    """Why `member` must not be extracted, or None when it is safe.

    Paths and link targets are judged by their text, and neither may pass through a symbolic
    link met earlier in the archive, so that the text says where they really lead.
    """
    path = PurePosixPath(member.name)
    if path.is_absolute():
        return "absolute path"
    if ".." in path.parts:
        return "path contains '..'"
    if _via_symlink(path, symlinks):
        return "path passes through a symbolic link in the archive"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "device, FIFO or other special file"
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        link = PurePosixPath(member.linkname)
        # A symbolic link is relative to its folder, a hard link to the archive root.
        target = path.parent / link if member.issym() else link
        if link.is_absolute() or _escapes(target):
            return f"{kind} link to {member.linkname!r}, outside the target"
        if _via_symlink(target, symlinks):
            return f"{kind} link to {member.linkname!r} passes through a symbolic link in the archive"
    return None


def _via_symlink(path: PurePosixPath, symlinks: set[PurePosixPath]) -> bool:
    """Whether a folder on the way to `path` is one of the archive's symbolic links."""
    return any(_normal(str(PurePosixPath(*path.parts[:i]))) in symlinks for i in range(1, len(path.parts)))


def _normal(name: str) -> PurePosixPath:
    return PurePosixPath(posixpath.normpath(name))


def _escapes(path: PurePosixPath) -> bool:
    """Whether a relative path, once `..` are folded, leaves the directory it starts from."""
    return _normal(str(path)).parts[:1] == ("..",)
