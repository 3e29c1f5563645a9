"""Local file helpers: hashing, and opening files a user put in place (drop folder,
allowed roots) without following a symbolic link and only if they are regular files."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO


class NotRegular(OSError):
    """The path is a symbolic or hard link, a directory, a device or a FIFO: it is not opened."""


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading without following a final symbolic link (`O_NOFOLLOW`) and
    without blocking on a FIFO (`O_NONBLOCK`); the opened file must be regular and have one
    name (a hard link is refused like a symbolic link), checked on the descriptor, so
    nothing can be swapped in between. Raises `NotRegular`, OSError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:  # with O_NOFOLLOW: the final component is a symbolic link
            raise NotRegular(e.errno, f"{path.name} is a symbolic link") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(errno.EINVAL, f"{path.name} is not a regular file")
    if st.st_nlink > 1:  # another name for a file put elsewhere, maybe one only this process may read
        os.close(fd)
        raise NotRegular(errno.EMLINK, f"{path.name} is a hard link ({st.st_nlink} names for one file)")
    return os.fdopen(fd, "rb")


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The content of the regular file `path` (see `open_regular`). Raises ValueError when
    it is larger than `max_bytes`, `NotRegular`, OSError."""
    with open_regular(path) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
    return data


def file_sha256(source: Path | BinaryIO) -> str:
    """SHA-256 hex digest of a file (a path, or an open file from its start), read in
    1 MiB chunks."""
    if isinstance(source, Path):
        with source.open("rb") as f:
            return file_sha256(f)
    h = hashlib.sha256()
    source.seek(0)
    while chunk := source.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def open_for_writing(path: Path) -> list[int]:
    """The pids of the processes that hold `path` open for writing right now (Linux:
    every `/proc/<pid>/fd` link to it whose `fdinfo` flags have O_WRONLY or O_RDWR; the
    processes this user may inspect). Empty elsewhere or when none does."""
    import os

    try:
        target = os.stat(path)
    except OSError:
        return []
    writers = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()) if os.path.isdir("/proc") else ():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
                if (st.st_dev, st.st_ino) != (target.st_dev, target.st_ino):
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    flags = next(int(line.split()[1], 8) for line in info if line.startswith("flags:"))
            except (OSError, StopIteration, ValueError):
                continue
            if flags & (os.O_WRONLY | os.O_RDWR):
                writers.append(int(pid))
                break
    return writers
