"""The drop folder (`TFLOW_INBOX`, default `./data/inbox`), watched with watchfiles.

A file is taken once its size and mtime have held for `inbox_settle_seconds` (2 s) and
no process holds it open for writing (Linux `/proc`); a writer that closes the file
between writes is covered by the window, and one that cannot be seen (another machine
over a network share) by the `.part` convention: write `<name>.part`, then rename. It is
uploaded to `raw/<name>` (an existing different object of that name is never
overwritten: the upload goes to `raw/<stem>-<sha256[:12]><ext>`), announced, and
after ingest's verdict moved to `done/` or, rejected, to `failed/` with
`<name>.error.txt` saying why; without a verdict in `inbox_verdict_timeout_seconds` it
goes to `failed/` as `unknown` (never to `done/`). An optional sidecar `<name>.json`
(or `<stem>.json`) holds the user metadata. Nothing is ever deleted.

Names that can never become an object key — not valid UTF-8, a backslash, a control
character — go to `failed/` at once as `invalid_name`; a name too long for its sidecar
or note names simply has none. When the watcher itself fails (watchfiles cannot decode a
name), the folder is polled instead: one bad name never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import shutil
import time
from pathlib import Path

from minio import Minio
from nats.js import JetStreamContext
from watchfiles import awatch

from contracts import JobOptions, ObjectRef, Rejected, Submission, job_id_for
from intake.submission import MetadataError, options_from_metadata, parse_metadata
from intake.submit import NotSubmittable, submit_file
from runtime.jetstream.connection import announce_object
from runtime.settings import Settings
from runtime.storage import store
from runtime.storage.files import open_for_writing, read_regular
from runtime.worker.facts import Facts, verdict
from runtime.worker.runner import Context

log = logging.getLogger(__name__)

#: Custom thumbnail sidecars: `<name>.thumb.<ext>` (PRD: JPG, PNG, WebP).
THUMB_EXTS = (".jpg", ".jpeg", ".png", ".webp")
#: Names never taken: partial downloads/copies, sidecars and our own notes.
SKIP_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".json", ".error.txt",
                 *(f".thumb{e}" for e in THUMB_EXTS))
#: Seconds between scans when the watcher has failed (polling instead).
POLL_SECONDS = 0.5
#: Seconds between looks for the verdict.
VERDICT_POLL = 0.2


class NotIngestable(Exception):
    """The file cannot be submitted (bad sidecar, unreadable): it goes to `failed/`."""


def _exists(cand: Path) -> bool:
    """Whether `cand` is there (a symbolic link counts: it is found, then refused); a name
    too long to exist (ENAMETOOLONG) is simply not there."""
    try:
        return cand.is_symlink() or cand.is_file()
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            return False
        raise


def name_problem(name: str) -> str | None:
    """Why `name` can never be an object key (so retrying is pointless), or None: not valid
    UTF-8 (Python keeps such bytes as lone surrogates), a backslash, a control character."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8"
    if "\\" in name:
        return "the file name contains a backslash"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "the file name contains a control character"
    return None


def note_path(dest: Path) -> Path:
    """`<dest>.error.txt`, shortened (a stem and a hash of the name) when that name would be
    longer than the file system allows (255 bytes)."""
    note = dest.with_name(dest.name + ".error.txt")
    if len(note.name.encode("utf-8", "surrogateescape")) <= 255:
        return note
    digest = hashlib.sha256(dest.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    stem = dest.name.encode("utf-8", "surrogateescape")[:200].decode("utf-8", "ignore")
    return dest.with_name(f"{stem}~{digest}.error.txt")


def sidecar_for(path: Path) -> Path | None:
    """The metadata sidecar of a dropped file: `<name>.json`, else `<stem>.json`, else None."""
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand != path and _exists(cand):
            return cand
    return None


def thumbnail_for(path: Path) -> Path | None:
    """The custom thumbnail sidecar of a dropped file: `<name>.thumb.<ext>` or
    `<stem>.thumb.<ext>` with ext jpg/jpeg/png/webp, else None."""
    for base in (path.name, path.stem):
        for ext in THUMB_EXTS:
            cand = path.with_name(f"{base}.thumb{ext}")
            if _exists(cand):
                return cand
    return None


def candidates(inbox: Path) -> list[Path]:
    """Regular files and symbolic links directly in `inbox` that may be media drops (not
    hidden, partial, notes; folders are left alone). A link is never followed: taking it
    fails it as not a regular file, and it is filed under failed/ as it is."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for p in inbox.iterdir():
            if p.name.startswith(".") or p.name.lower().endswith(SKIP_SUFFIXES):
                continue
            if not p.is_symlink() and not p.is_file():
                continue
            out.append(p)
    return sorted(out)


def free_destination(folder: Path, name: str) -> Path:
    """`folder/name`, or `name.1`, `name.2`, ... when taken: nothing is overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    dest, n = folder / name, 0
    while dest.exists():
        n += 1
        dest = folder / f"{name}.{n}"
    return dest


def file_away(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` without overwriting (`free_destination`)."""
    dest = free_destination(folder, path.name)
    shutil.move(str(path), dest)
    return dest


class DropFolder:
    """Watches the inbox; `run(stop)` until stop is set."""

    def __init__(self, settings: Settings, js: JetStreamContext, facts: Facts, client: Minio):
        self.settings, self.js, self.facts, self.client = settings, js, facts, client
        self.inbox = settings.inbox_dir
        self.done, self.failed = self.inbox / "done", self.inbox / "failed"
        self._seen: dict[Path, tuple[int, int, float]] = {}
        self._busy: set[Path] = set()
        self._tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Scan at start, on every change, and every half second (settle checks); if the
        watcher fails, poll every `POLL_SECONDS` instead."""
        for d in (self.inbox, self.done, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        self.scan()
        try:
            async for _ in awatch(self.inbox, stop_event=stop, recursive=False, yield_on_timeout=True,
                                  rust_timeout=500, debounce=100, step=50):
                self.scan()
        except Exception as e:  # noqa: BLE001 - e.g. "Unable to decode path": polling does not decode
            log.warning("inbox watcher failed (%s); polling %s every %.1f s instead", e, self.inbox, POLL_SECONDS)
            while not stop.is_set():
                self.scan()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        for t in list(self._tasks):
            t.cancel()

    def scan(self) -> None:
        """Start taking every candidate whose size and mtime held for the settle time."""
        now = time.monotonic()
        present = set()
        for path in candidates(self.inbox):
            present.add(path)
            if path in self._busy:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            prev = self._seen.get(path)
            if prev is None or prev[:2] != (st.st_size, st.st_mtime_ns):
                self._seen[path] = (st.st_size, st.st_mtime_ns, now)
            elif now - prev[2] >= self.settings.intake.inbox_settle_seconds:
                if open_for_writing(path):  # still being written, however slowly: look again later
                    self._seen[path] = (st.st_size, st.st_mtime_ns, now)
                    continue
                self._busy.add(path)
                task = asyncio.create_task(self._take(path))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        for gone in set(self._seen) - present:
            self._seen.pop(gone, None)

    async def _take(self, path: Path) -> None:
        try:
            if problem := name_problem(path.name):
                raise NotIngestable(f"invalid_name: {problem} ({path.name!r})")
            ref = await self.submit(path)
            job_id = job_id_for(ref)
            said = await self._verdict(job_id)
            if isinstance(said, Rejected):
                self._fail(path, f"{said.code}: {said.message}\njob {said.job_id}, kept as {ref.key}\n")
            elif said is None:
                wait = self.settings.intake.inbox_verdict_timeout_seconds
                self._fail(path, f"unknown: no verdict from ingest within {wait:g} s; the job may still complete "
                                 f"(GET /api/v1/jobs/{job_id})\njob {job_id}, kept as {ref.key}\n")
            else:
                self._file(path, self.done)
        except NotIngestable as e:
            self._fail(path, f"{e}\n")
        except Exception as e:  # noqa: BLE001 - store/NATS down: leave it, try again after the settle time
            log.warning("could not submit %s (will retry): %s", path.name, e)
            self._seen.pop(path, None)
            await asyncio.sleep(min(30.0, max(1.0, self.settings.intake.inbox_settle_seconds)))
        finally:
            self._busy.discard(path)

    async def _verdict(self, job_id: str) -> object:
        """Ingest's verdict once it exists, or None after `inbox_verdict_timeout_seconds`."""
        deadline = time.monotonic() + self.settings.intake.inbox_verdict_timeout_seconds
        while (said := await verdict(self.facts, job_id)) is None and time.monotonic() < deadline:
            await asyncio.sleep(VERDICT_POLL)
        return said

    def _file(self, path: Path, folder: Path, note: str | None = None) -> Path:
        """Move a drop, its sidecars and (given) its `<name>.error.txt` note into `folder`,
        the drop itself last: whoever sees it there finds everything that goes with it."""
        dest = free_destination(folder, path.name)
        if note is not None:
            note_path(dest).write_text(note, errors="backslashreplace")
        for side in (sidecar_for(path), thumbnail_for(path)):
            if side is not None:
                file_away(side, folder)
        shutil.move(str(path), dest)
        return dest

    def _fail(self, path: Path, why: str) -> None:
        self._file(path, self.failed, why)
        log.info("inbox: %r -> failed/: %s", path.name, why.splitlines()[0])

    async def submit(self, path: Path) -> ObjectRef:
        """Upload `path` (and its sidecar's submission) to `raw/` and announce it.
        Raises `NotIngestable` for a file that can never be submitted."""
        submission = self._submission(path)
        try:
            ref = await asyncio.to_thread(submit_file, self.client, self.settings.s3.bucket, path, path.name,
                                          submission, thumbnail_for(path), None, "inbox")
        except NotSubmittable as e:
            raise NotIngestable(str(e)) from e
        await announce_object(self.js, ref, "inbox")
        log.info("inbox: %s -> %s (job %s)", path.name, ref.key, job_id_for(ref))
        return ref

    def _submission(self, path: Path) -> Submission | None:
        side = sidecar_for(path)
        meta: dict = {}
        if side is not None:
            try:
                meta = parse_metadata(read_regular(side, self.settings.intake.max_metadata_bytes * 4),
                                      self.settings.intake.max_metadata_bytes)
                options = options_from_metadata(meta, JobOptions())
            except (MetadataError, ValueError) as e:
                raise NotIngestable(f"invalid_metadata: sidecar {side.name}: {e}") from e
            except OSError as e:  # a symbolic link, a FIFO, unreadable
                raise NotIngestable(f"invalid_metadata: sidecar {side.name}: {e.strerror or e}") from e
        else:
            options = JobOptions()
        if side is None:
            return None
        return Submission(user_metadata=meta, options=options)


async def watch_inbox(context: Context, stop: asyncio.Event) -> None:
    """Ingest's companion (`services.ingest.SERVICE`): the bucket exists, then the drop
    folder is watched until `stop`."""
    await asyncio.to_thread(store.ensure_bucket, context.client, context.settings.s3.bucket)
    await DropFolder(context.settings, context.js, context.facts, context.client).run(stop)
