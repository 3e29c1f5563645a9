"""Secrets of the embedded stack: generated once on first start, kept under `<data_dir>/`
in files of mode 0600 (an existing file with a looser mode is tightened), never logged.
In production every one of them comes from the environment instead."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any


def private_file(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 (created so, never briefly wider); atomic. A
    missing parent folder is created 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def tighten(path: Path) -> None:
    """Make an existing secret file mode 0600."""
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        path.chmod(0o600)


def ensure_secret_file(path: Path, prefix: str, from_env: bool = False, nbytes: int = 32) -> str | None:
    """The secret in `path`, generated once (`prefix` + `nbytes` random bytes, URL-safe
    base64) unless the secret comes from the environment (`from_env`: returns None)."""
    if from_env:
        return None
    if not path.exists():
        private_file(path, prefix + secrets.token_urlsafe(nbytes) + "\n")
    tighten(path)
    return path.read_text().strip()


def secret_json(path: Path, make: dict[str, Any]) -> dict[str, Any]:
    """A 0600 JSON object of secrets: keys missing from the file are added from `make`
    (generated values), existing ones are kept. Returns the whole object."""
    current: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    missing = {k: v for k, v in make.items() if k not in current}
    if missing or not path.exists():
        current.update(missing)
        private_file(path, json.dumps(current, indent=2, sort_keys=True) + "\n")
    tighten(path)
    return current


def token(nbytes: int = 24) -> str:
    """A random URL-safe secret of `nbytes` bytes."""
    return secrets.token_urlsafe(nbytes)
