"""NATS JetStream at the edge: connect (reconnect forever), apply the stream and
consumer definitions (`contracts/nats/`), announce objects, and run a durable pull
consumer with heartbeats, backoff and max-deliver handling (DESIGN: "Long work is
heartbeated"). Job facts are published and read through `runtime.worker.facts`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, PubAck, StreamConfig
from nats.js.errors import BadRequestError

from contracts import (
    NATS_DEFINITIONS,
    ObjectAnnounced,
    ObjectRef,
    Origin,
    announce_subject,
    encode,
    job_id_for,
    utcnow,
)
from runtime.jetstream.definitions import load_consumer_configs, load_stream_configs
from runtime.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


#: The NATS user that may create streams and consumers (`tflow bootstrap`, the CLI, tests).
ADMIN_USER = "admin"


def inbox_prefix(user: str) -> str:
    """The reply-subject prefix of `user` (`_INBOX_<user>`): each role may subscribe to its
    own replies only, so no service reads another's JetStream deliveries or acks."""
    return f"_INBOX_{user}"



class NatsRefused(ConnectionError):
    """The server refused this process's credentials on its first connection: a wrong
    user or password fails the start with this message instead of being retried forever."""


def server_urls(url: str) -> list[str]:
    """The servers of `TFLOW_NATS_URL`: one URL or a comma-separated list of a cluster's nodes."""
    return [u.strip() for u in url.split(",") if u.strip()]


#: Per client, the events `rejoined` handed out, set on every reconnect.
_REJOINED: weakref.WeakKeyDictionary[NATS, list[asyncio.Event]] = weakref.WeakKeyDictionary()


#: Per client, the subjects the server refused a publish to (permissions), with when.
_REFUSED: weakref.WeakKeyDictionary[NATS, dict[str, float]] = weakref.WeakKeyDictionary()
_REFUSAL = re.compile(r'permissions violation for publish to "([^"]+)"', re.IGNORECASE)


def refused(nc: NATS, subject: str, since: float) -> bool:
    """Whether the server refused `nc` a publish to `subject` (its role's permissions) at
    or after `since` (monotonic seconds). nats-py reports the refusal asynchronously and
    the publish itself only times out, so a patient publisher asks this before retrying:
    a refusal is a configuration error, not an outage."""
    return _REFUSED.get(nc, {}).get(subject, -1.0) >= since


def rejoined(nc: NATS) -> asyncio.Event:
    """An event set each time `nc` reconnects (clear it after waking). A pull request
    waiting on the server is lost with the connection and nats-py waits out its expiry, so
    a long-polling loop wakes on this to send a new one at once."""
    event = asyncio.Event()
    _REJOINED.setdefault(nc, []).append(event)
    return event


async def connect(settings: Settings, name: str, nc: NATS | None = None, wait: bool = True) -> NATS:
    """Connect `nc` (default: a new client) to `settings.nats.url` as `settings.nats.user`
    (password auth when set); waits for a server that is not up yet and reconnects forever
    (nats-py's default gives up after 60 tries). Returns the client. With `wait=False`
    (a command line), a server that does not answer fails the first connect.

    Without `TFLOW_NATS_PASSWORD` the user's password is the one `Settings.with_secrets`
    read at start from `<data_dir>/secrets/nats.json` (compose: written by `tflow nats-config`).
    Raises `NatsRefused` when the first connection is refused for its credentials.
    """
    refused = asyncio.Event()

    async def on_error(e: Exception) -> None:
        if isinstance(e, nats.errors.AuthorizationError) or "Authorization Violation" in str(e):
            refused.set()
        if (m := _REFUSAL.search(str(e))) is not None:
            _REFUSED.setdefault(client, {})[m.group(1)] = time.monotonic()
        log.warning("nats error: %s", e)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")
        for event in _REJOINED.get(client, ()):
            event.set()

    if not settings.nats.url:
        raise SystemExit("TFLOW_NATS_URL is not set (tflow up sets it for the embedded stack)")
    auth: dict[str, Any] = {}
    if settings.nats.user:
        password = settings.nats.password.get_secret_value() if settings.nats.password else ""
        auth = {"user": settings.nats.user, "password": password}
        if settings.nats.user != ADMIN_USER:
            auth["inbox_prefix"] = inbox_prefix(settings.nats.user)
    client = nc if nc is not None else NATS()
    connecting = asyncio.ensure_future(client.connect(
        servers=server_urls(settings.nats.url),
        name=name,
        **auth,
        max_reconnect_attempts=-1 if wait else 1,  # 1: two tries, then NoServersError
        allow_reconnect=wait,
        reconnect_time_wait=1,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    ))
    waiting = asyncio.ensure_future(refused.wait())
    await asyncio.wait([connecting, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        raise NatsRefused(f"NATS at {settings.nats.url} refused user {settings.nats.user or '(anonymous)'!r}: "
                          "authorization violation (check TFLOW_NATS_USER / TFLOW_NATS_PASSWORD)")
    connecting.result()
    return client


#: Backoff of a bind (apply the consumer, bind a pull subscription) that the server did
#: not answer: the first retry after this many seconds, doubling up to `BIND_RETRY_MAX_SECONDS`.
BIND_RETRY_SECONDS = 0.5
BIND_RETRY_MAX_SECONDS = 10.0


async def patiently(what: str, call: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    """`await call()` until it answers, retried with backoff (`BIND_RETRY_SECONDS`
    doubling up to `BIND_RETRY_MAX_SECONDS`) while the server is away, stalled or
    restarting, however long that lasts; None once `stop` is set. Each failure is one
    warning log line (no trace): an outage of the bus is the machine's, not a crash."""
    delay, failures = BIND_RETRY_SECONDS, 0
    while not stop.is_set():
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - timeouts, no responders, connection closed, ...
            failures += 1
            log.warning("%s failed (%s: %s); retry %d in %.1fs", what, type(e).__name__, e, failures, delay)
            await first(asyncio.sleep(delay), stop.wait())
            delay = min(delay * 2, BIND_RETRY_MAX_SECONDS)
    return None


async def first(*aws: Awaitable[object]) -> None:
    """Return when the first of `aws` ends (the others are cancelled)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def bounded(aw: Awaitable[object], timeout: float) -> bool:
    """Await `aw` for at most `timeout` seconds; True when it ended (even with an error,
    which is swallowed), False when it was abandoned. Unlike `asyncio.wait_for`, it never
    waits for the abandoned work to finish cancelling (a nats-py drain against a hung
    server does not)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        return False
    if not task.cancelled():
        task.exception()  # retrieved: never "exception was never retrieved"
    return True


async def close(nc: NATS, timeout: float = 2.0) -> None:
    """Drain `nc` (finish in-flight acks and publishes), or, when the server is away or the
    drain does not end within `timeout` seconds, just close it (1 s at most): stopping
    never waits on a server that is gone or hung, and never raises."""
    answers = False
    if nc.is_connected:  # a hung server: a drain would be cancelled half-way; a flush tells first
        with contextlib.suppress(Exception):
            await nc.flush(timeout=1)
            answers = True
    if answers and await bounded(nc.drain(), timeout) and nc.is_closed:
        return
    log.info("nats drain skipped (%s); closing", "not answering" if nc.is_connected else "not connected")
    await bounded(nc.close(), 1.0)


async def apply_stream(js: JetStreamContext, cfg: StreamConfig) -> None:
    """Create the stream, or update it when it exists with another config (idempotent)."""
    try:
        await js.add_stream(cfg)
    except BadRequestError as e:
        if e.err_code != 10058:  # stream name already in use with a different configuration
            raise
        await js.update_stream(cfg)


async def apply_consumer(js: JetStreamContext, stream: str, cfg: ConsumerConfig) -> None:
    """Create or update a durable consumer. Explicit on purpose: nats-py's `pull_subscribe`
    silently keeps the config of an existing durable, so changed settings need this call."""
    await js.add_consumer(stream, cfg)


async def apply_definitions(js: JetStreamContext, root: Traversable = NATS_DEFINITIONS,
                            replicas: int | None = None) -> None:
    """Apply every stream (with `replicas` copies when given), then every consumer (split
    groups as their members, `runtime.jetstream.definitions`), from `root` (idempotent; run at each start)."""
    for cfg in load_stream_configs(root, replicas):
        await apply_stream(js, cfg)
    for stream, ccfg in load_consumer_configs(root):
        await apply_consumer(js, stream, ccfg)


async def announce_object(js: JetStreamContext, ref: ObjectRef, origin: Origin) -> PubAck:
    """Publish "this object exists" on `minio.announce.<origin>`, deduped per job id."""
    msg = ObjectAnnounced(object=ref, origin=origin, at=utcnow())
    return await js.publish(announce_subject(origin), encode(msg),
                            headers={"Nats-Msg-Id": f"announce.{origin}.{job_id_for(ref)}"})
