"""The backup repository on disk (layout: `ops.recovery`): its snapshots, which one a
restore takes, the incremental plan of an objects copy, retention, and the repository
lock. Pure functions over manifests, and the few file operations they need."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from contracts import ObjectRef
from ops.recovery.tools import BackupError
from runtime.settings import Settings

SNAPSHOTS = "snapshots"
BLOBS = "blobs"
PARTIAL = ".partial-"
MANIFEST = "manifest.json"
OBJECTS = "objects.json"
#: What a snapshot may hold; a full snapshot holds all of them (database before streams).
PARTS = ("postgres", "streams", "secrets", "objects")
#: The parts a restore needs from one snapshot.
FULL = frozenset(PARTS)
#: Bytes read at a time when hashing.
CHUNK = 1 << 20


def repository(settings: Settings, given: Path | None = None) -> Path:
    """The repository: `given`, else `TFLOW_BACKUP_DIR`, else `<data_dir>/backups`."""
    return Path(given or settings.backup.dir or settings.data_dir / "backups")


@dataclass(frozen=True)
class Snapshot:
    """One whole snapshot: its id (UTC `YYYYmmddTHHMMSSZ`, sorts by time), folder and manifest."""

    id: str
    path: Path
    manifest: dict

    @property
    def parts(self) -> frozenset[str]:
        return frozenset(self.manifest.get("parts", ()))

    @property
    def full(self) -> bool:
        return self.parts >= FULL

    def objects(self) -> dict[str, dict]:
        """Key -> `{sha256, size, etag, headers, metadata}` of its objects part ({} without one)."""
        path = self.path / OBJECTS
        return json.loads(path.read_text()) if path.exists() else {}


def new_id(repo: Path, at: datetime) -> str:
    """A snapshot id for time `at` (aware), unique in `repo` (a suffix when taken twice a second)."""
    base = at.strftime("%Y%m%dT%H%M%SZ")
    found, n = base, 1
    while (repo / SNAPSHOTS / found).exists() or (repo / SNAPSHOTS / f"{PARTIAL}{found}").exists():
        found, n = f"{base}-{n}", n + 1
    return found


def snapshots(repo: Path) -> list[Snapshot]:
    """The whole snapshots of `repo`, oldest first (a `.partial-` folder is none)."""
    root = repo / SNAPSHOTS
    if not root.is_dir():
        return []
    found = [Snapshot(p.name, p, json.loads((p / MANIFEST).read_text())) for p in root.iterdir()
             if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()]
    return sorted(found, key=lambda s: s.id)


def chosen(repo: Path, snapshot_id: str | None = None) -> tuple[Snapshot, Snapshot]:
    """What a restore takes: the full snapshot `snapshot_id` (default the newest), and the
    objects of the newest snapshot taken at or after it (objects snapshots run more often).
    Raises `BackupError` when there is no such snapshot."""
    snaps = snapshots(repo)
    fulls = [s for s in snaps if s.full and (snapshot_id is None or s.id == snapshot_id)]
    if not fulls:
        what = f"snapshot {snapshot_id!r}" if snapshot_id else "full snapshot"
        raise BackupError(f"no {what} in {repo} (`tflow backup --list {repo}` lists them)")
    base = fulls[-1]
    objects = [s for s in snaps if "objects" in s.parts and s.id >= base.id]
    return base, objects[-1]


def blob_path(repo: Path, sha256: str) -> Path:
    """Where the bytes of sha256 `sha256` are kept."""
    return repo / BLOBS / sha256[:2] / sha256


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of `path`'s bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def plan_objects(previous: dict[str, dict], listing: Iterable[ObjectRef]) -> tuple[dict[str, dict], list[ObjectRef]]:
    """The incremental plan of an objects copy: the entries of `previous` (the newest
    index) kept as they are, for objects whose ETag and size are unchanged, and the
    objects to copy (new or changed)."""
    kept: dict[str, dict] = {}
    copy: list[ObjectRef] = []
    for ref in listing:
        old = previous.get(ref.key)
        if old is not None and old.get("etag") == ref.etag and old.get("size") == ref.size:
            kept[ref.key] = old
        else:
            copy.append(ref)
    return kept, copy


def expired(snaps: list[Snapshot], keep: int) -> list[Snapshot]:
    """The snapshots retention removes: full snapshots but the newest `keep`, and objects
    snapshots older than the newest full one (it holds every object too). Without a full
    snapshot, all but the newest `keep`."""
    fulls = [s for s in snaps if s.full]
    if not fulls:
        return snaps[:-keep]
    kept = {s.id for s in fulls[-keep:]}
    newest = fulls[-1].id
    return [s for s in snaps if (s.full and s.id not in kept) or (not s.full and s.id < newest)]


def referenced(snaps: Iterable[Snapshot]) -> set[str]:
    """The blob hashes `snaps` name."""
    return {entry["sha256"] for s in snaps for entry in s.objects().values()}


def prune(repo: Path, keep: int) -> dict[str, int]:
    """Remove what retention says (`expired`), partial snapshots a crash left, and blobs
    no kept snapshot names. Call with the repository locked. Returns the counts removed."""
    snaps = snapshots(repo)
    gone = expired(snaps, keep)
    for s in gone:
        shutil.rmtree(s.path)
    partials = [p for p in (repo / SNAPSHOTS).glob(f"{PARTIAL}*")]
    for p in partials:
        shutil.rmtree(p, ignore_errors=True)
    names = referenced(s for s in snaps if s not in gone)
    blobs, size = 0, 0
    for path in (repo / BLOBS).glob("*/*"):
        if path.name not in names:
            size += path.stat().st_size
            path.unlink()
            blobs += 1
    return {"snapshots": len(gone), "partials": len(partials), "blobs": blobs, "blob_bytes": size}


@contextlib.contextmanager
def locked(repo: Path) -> Iterator[None]:
    """Hold `repo`'s lock (a scheduled backup and a manual one never interleave). Raises
    `BackupError` when another backup holds it."""
    repo.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(repo / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup is writing {repo}; try again when it is done") from None
        yield
    finally:
        os.close(fd)
