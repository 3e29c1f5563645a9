"""Whose failure is it: the one table of how a task's error is classified (issue 27).

| blame     | what                                                        | outcome                          |
|-----------|-------------------------------------------------------------|----------------------------------|
| `input`   | FFmpeg refusing the media itself; a frame that never decodes | permanent, the reason for a user |
| `machine` | the store, bus, database, network or disk (ENOSPC, EIO ...); | retried (`nak` with backoff) up  |
|           | ffmpeg killed by a signal, stalled or past its time limit   | to `max_deliver`; `disk_full`    |
|           |                                                             | waits for space first (issue 28) |
| `ours`    | a bug: an error on the task's own temporary files (EINVAL   | permanent, logged with the trace,|
|           | from a segment it wrote), a TypeError, KeyError, ...        | the reason says so               |

An error not in the table is taken as the machine's (retried, logged with its trace), so
an unforeseen outage is ridden out rather than failing jobs. Every `reason` is a whole
sentence without temporary paths, URLs or errno numbers (`sentence`).
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from enum import StrEnum

import av
import msgspec

from media.run import FfmpegError, Stalled, TimeLimitExceeded, UnusableInput
from runtime.jetstream.retry import Permanent
from runtime.observability.logs import without_addresses
from runtime.storage.space import is_full

#: The code of a full disk or store, wherever it was met (issue 28).
DISK_FULL = "disk_full"


class Blame(StrEnum):
    """Whose failure: the input's, the machine's, or ours (a bug)."""

    INPUT = "input"
    MACHINE = "machine"
    OURS = "ours"


@dataclass(frozen=True)
class Failure:
    """A classified error: `blame`, the `task_failed` `code`, the `reason` sentence, and
    whether a row of the table named it (`known`; False: taken as the machine's)."""

    blame: Blame
    code: str
    reason: str
    known: bool = True

    @property
    def permanent(self) -> bool:
        """Whether no retry can change it (the input's and ours are permanent)."""
        return self.blame is not Blame.MACHINE


#: What ffmpeg says when its input or output is unreachable rather than invalid.
NETWORK_MARKERS = ("connection refused", "connection reset", "connection timed out", "timed out",
                   "network is unreachable", "no route to host", "broken pipe", "server returned 5",
                   "server returned 404", "server returned 403", "i/o error", "input/output error",
                   "no such file or directory", "end of file", "cannot allocate memory")
#: errno values of the machine, not of the input or of us (errno(3)).
MACHINE_ERRNOS = {errno.EIO: "io_error",
                  errno.ENOMEM: "out_of_memory", errno.EMFILE: "too_many_files", errno.ENFILE: "too_many_files",
                  errno.EROFS: "read_only_disk", errno.ECONNREFUSED: "unreachable", errno.ECONNRESET: "unreachable",
                  errno.ETIMEDOUT: "unreachable", errno.EHOSTUNREACH: "unreachable",
                  errno.ENETUNREACH: "unreachable", errno.EPIPE: "unreachable", errno.EAGAIN: "busy"}
#: Error classes that are bugs in this project wherever they come from.
OUR_BUGS = (AssertionError, TypeError, AttributeError, KeyError, IndexError, NameError, ZeroDivisionError,
            msgspec.ValidationError, msgspec.DecodeError, NotImplementedError, RecursionError)
_ADDRESS = re.compile(r"\s*\[[\w:,#/.\- ]+ @ 0x[0-9a-f]+\]\s*")
_PATH = re.compile(r"(?:/[\w.\-+~%]+){2,}")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*|\(?error code:? -?\d+\)?|returned -?\d+")


def sentence(text: str, limit: int = 300) -> str:
    """`text` as a reason: FFmpeg's `[hls @ 0x55…]` tags, errno numbers, URLs and local
    paths (replaced by their last name) removed, whitespace folded, cut at a word boundary
    below `limit` characters, capitalised, ending with a full stop."""
    text = without_addresses(text)
    text = _ADDRESS.sub(" ", text)
    text = _ERRNO.sub("", text)
    text = _PATH.sub(lambda m: m.group(0).rsplit("/", 1)[-1], text)
    text = " ".join(text.replace("'", "").split()).strip(" :;,.")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(" :;,.") + " …"
    return (text[:1].upper() + text[1:] + ("" if text.endswith("…") else ".")) if text else "No detail."


def _ffmpeg_said(stderr: str) -> str:
    """The line of ffmpeg's stderr that says what went wrong: the first naming a cause,
    not a consequence ("Error muxing a packet", "Terminating thread", "Task finished")."""
    consequences = ("terminating thread", "task finished", "error muxing", "error submitting", "conversion failed",
                    "slave muxer", "last message repeated", "nothing was written", "could not open encoder before")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if not any(c in line.lower() for c in consequences)]
    return (causes or lines or ["no detail"])[0]


def _local(filename: object) -> str | None:
    """The last name of a local path an error names (None: no name, or a URL)."""
    if not isinstance(filename, str) or not filename or "://" in filename:
        return None
    return filename.rstrip("/").rsplit("/", 1)[-1]


def classify(error: BaseException) -> Failure:
    """The `Failure` of `error` by the table above (a `Permanent` by its cause, and is
    permanent whatever the cause)."""
    if isinstance(error, Permanent):
        if error.__cause__ is None:
            return Failure(Blame.INPUT, "permanent", sentence(str(error)))
        found = classify(error.__cause__)
        return found if found.permanent else Failure(Blame.INPUT, found.code, found.reason)
    if is_full(error):
        return Failure(Blame.MACHINE, DISK_FULL, "No space left on the disk; the task waits for space and is retried.")
    if isinstance(error, FfmpegError):
        said = sentence(_ffmpeg_said(error.stderr))
        if error.returncode < 0:
            return Failure(Blame.MACHINE, "ffmpeg_killed", f"FFmpeg was stopped by signal {-error.returncode} "
                           "(out of memory or a stop); the task is retried.")
        if any(marker in error.stderr.lower() for marker in NETWORK_MARKERS):
            return Failure(Blame.MACHINE, "ffmpeg_io", f"FFmpeg could not read or write its files: {said}")
        return Failure(Blame.INPUT, "ffmpeg_failed", f"FFmpeg cannot process this video: {said}")
    if isinstance(error, UnusableInput):
        return Failure(Blame.INPUT, "unusable_input", sentence(str(error)))
    if isinstance(error, (Stalled, TimeLimitExceeded)):
        return Failure(Blame.MACHINE, type(error).__name__, sentence(str(error)))
    if isinstance(error, (av.FFmpegError, OSError)):
        return _os_failure(error)
    if isinstance(error, OUR_BUGS):
        return Failure(Blame.OURS, "internal_error", f"An internal error stopped the task ({type(error).__name__}); "
                       "it is logged with its trace for the operators.")
    return Failure(Blame.MACHINE, type(error).__name__, sentence(str(error) or type(error).__name__), known=False)


def _os_failure(error: av.FFmpegError | OSError) -> Failure:
    """An OS or PyAV error: the machine's by errno (a full disk, a refused connection),
    else ours when it names a local file (the task's own temporary files: the sources are
    read over HTTP), else the input's (PyAV refusing the source's data) or the machine's."""
    number = error.errno if isinstance(error.errno, int) else None
    if number is not None and abs(number) in MACHINE_ERRNOS:
        what = error.strerror or type(error).__name__
        return Failure(Blame.MACHINE, MACHINE_ERRNOS[abs(number)], sentence(str(what)))
    own = _local(getattr(error, "filename", None))
    if own is not None:
        what = error.strerror or type(error).__name__
        return Failure(Blame.OURS, "internal_error", f"Reading or writing the task's own file {own} failed "
                       f"({str(what).rstrip('.').lower()}): an internal error, logged with its trace.")
    if isinstance(error, av.InvalidDataError):
        return Failure(Blame.INPUT, "unreadable_source", sentence(f"The source cannot be decoded: {error.strerror}"))
    return Failure(Blame.MACHINE, type(error).__name__, sentence(str(error.strerror or error)))
