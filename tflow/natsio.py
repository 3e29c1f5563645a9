"""NATS JetStream at the edge: connect (reconnect forever), apply the stream and
consumer definitions (`contracts/nats/`), announce objects, and run a durable pull
consumer with heartbeats, backoff and max-deliver handling (DESIGN: "Long work is
heartbeated"). Job facts are published and read through `tflow.facts`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
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
from contracts.advisories import DLQ_STREAM
from tflow import natsauth
from tflow.facts import Facts
from tflow.logs import log_context
from tflow.metrics import HANDLE_SECONDS, LOAD, MESSAGES
from tflow.retry import RETRY_DELAYS_SECONDS, is_permanent, retry_delay
from tflow.settings import Settings
from tflow.worker import Delivery

log = logging.getLogger(__name__)


class NatsRefused(ConnectionError):
    """The server refused this process's credentials on its first connection: a wrong
    user or password fails the start with this message instead of being retried forever."""


async def connect(settings: Settings, name: str, nc: NATS | None = None, wait: bool = True) -> NATS:
    """Connect `nc` (default: a new client) to `settings.nats_url` as `settings.nats_user`
    (password auth when set); waits for a server that is not up yet and reconnects forever
    (nats-py's default gives up after 60 tries). Returns the client. With `wait=False`
    (a command line), a server that does not answer fails the first connect.

    Without `TFLOW_NATS_PASSWORD` the user's password is read from
    `<data_dir>/secrets/nats.json` (compose: written by `tflow nats-config`).
    Raises `NatsRefused` when the first connection is refused for its credentials.
    """
    refused = asyncio.Event()

    async def on_error(e: Exception) -> None:
        if isinstance(e, nats.errors.AuthorizationError) or "Authorization Violation" in str(e):
            refused.set()
        log.warning("nats error: %s", e)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    if not settings.nats_url:
        raise SystemExit("TFLOW_NATS_URL is not set (tflow up sets it for the embedded stack)")
    auth: dict[str, Any] = {}
    if settings.nats_user:
        password = (settings.nats_password.get_secret_value() if settings.nats_password
                    else natsauth.stored_password(settings.data_dir / "secrets", settings.nats_user))
        auth = {"user": settings.nats_user, "password": password or ""}
        if settings.nats_user != natsauth.ADMIN:
            auth["inbox_prefix"] = natsauth.inbox_prefix(settings.nats_user)
    nc = nc if nc is not None else NATS()
    connecting = asyncio.ensure_future(nc.connect(
        servers=[settings.nats_url],
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
        raise NatsRefused(f"NATS at {settings.nats_url} refused user {settings.nats_user or '(anonymous)'!r}: "
                          "authorization violation (check TFLOW_NATS_USER / TFLOW_NATS_PASSWORD)")
    connecting.result()
    return nc


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


def _json_files(folder: Traversable) -> list[Traversable]:
    return sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)


def load_stream_configs(root: Traversable = NATS_DEFINITIONS) -> list[StreamConfig]:
    """The stream configs in `root/streams/*.json` (the JSON `nats stream add --config` takes)."""
    return [StreamConfig.from_response(json.loads(p.read_text())) for p in _json_files(root / "streams")]


def load_consumer_configs(root: Traversable = NATS_DEFINITIONS) -> list[tuple[str, ConsumerConfig]]:
    """`(stream, config)` for every `root/consumers/<STREAM>/*.json` (`nats consumer add --config`)."""
    streams = sorted((d for d in (root / "consumers").iterdir() if d.is_dir()), key=lambda d: d.name)
    return [(d.name, ConsumerConfig.from_response(json.loads(p.read_text()))) for d in streams
            for p in _json_files(d)]


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


async def apply_definitions(js: JetStreamContext, root: Traversable = NATS_DEFINITIONS) -> None:
    """Apply every stream, then every consumer, from `root` (idempotent; run at each start)."""
    for cfg in load_stream_configs(root):
        await apply_stream(js, cfg)
    for stream, ccfg in load_consumer_configs(root):
        await apply_consumer(js, stream, ccfg)


def consumer_config(stream: str, durable: str, root: Traversable = NATS_DEFINITIONS) -> ConsumerConfig:
    """The config of durable `durable` on `stream` from `root`. Raises KeyError if absent."""
    for s, cfg in load_consumer_configs(root):
        if s == stream and cfg.durable_name == durable:
            return cfg
    raise KeyError(f"no consumer definition {stream}/{durable} under {root}")


class Cancellations:
    """Jobs cancelled while this process works on them: a live subscription to
    `jobs.*.cancelled` cancels the handler task of that job (ffmpeg is killed, temp
    files removed by the handler's own cleanup)."""

    def __init__(self) -> None:
        self.cancelled: set[str] = set()
        self.running: dict[str, set[asyncio.Task]] = {}

    async def start(self, nc: NATS) -> None:
        """Subscribe (core NATS; the facts are also on JOBS)."""
        async def on_cancel(msg: Msg) -> None:
            job_id = msg.subject.split(".")[1]
            self.cancelled.add(job_id)
            for task in list(self.running.get(job_id, ())):
                task.cancel()
        await nc.subscribe("jobs.*.cancelled", cb=on_cancel)

    def track(self, job_id: str, task: asyncio.Task) -> None:
        self.running.setdefault(job_id, set()).add(task)
        task.add_done_callback(lambda t: self.running.get(job_id, set()).discard(t))


@dataclass
class ConsumerLoop:
    """A durable pull consumer run by one service replica (any number of replicas share it).

    Handlers see a `Delivery` (subject, data, attempt), never the NATS message.
    `handle` returns normally -> ack; raises a permanent error (`tflow.retry.is_permanent`)
    -> `on_failure` then term; raises anything else -> nak with the delay of
    `retry_delays` for that attempt (PRD FR-4.2), and on the last delivery
    (`max_deliver`) `on_failure` then term: never silence. An exception inside
    `on_failure`, or an ack that cannot reach the server, is logged, never allowed to stop
    the loop (the server redelivers an unacknowledged message after `ack_wait`).
    `in_progress()` is sent every ack_wait/3 while the handler runs, so a short `ack_wait`
    (10 s) redelivers a dead worker's message quickly.
    """

    js: JetStreamContext
    stream: str
    durable: str
    service: str
    handle: Callable[[Delivery], Awaitable[None]]
    on_failure: Callable[[Delivery, BaseException], Awaitable[None]]
    facts: Facts
    fetch_timeout: float = 5.0
    rebind_after_timeouts: int = 12
    batch: int = 1
    cancellations: Cancellations | None = None
    retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS

    async def _bind(self) -> tuple[JetStreamContext.PullSubscription, ConsumerConfig]:
        cfg = consumer_config(self.stream, self.durable)
        await apply_consumer(self.js, self.stream, cfg)
        sub = await self.js.pull_subscribe_bind(self.durable, self.stream)
        return sub, cfg

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle until `stop` is set; re-binds after repeated fetch timeouts or errors."""
        sub, cfg = await self._bind()
        counted = self.stream != DLQ_STREAM  # the worker's load: its task loops, not its dead-letter loops
        if counted:
            LOAD.add_loop(self.service)
        try:
            await self._run(sub, cfg, stop, counted)
        finally:
            if counted:
                LOAD.add_loop(self.service, -1)

    async def _run(self, sub: JetStreamContext.PullSubscription, cfg: ConsumerConfig, stop: asyncio.Event,
                   counted: bool) -> None:
        timeouts = 0
        stopping = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            fetch = asyncio.ensure_future(sub.fetch(self.batch, timeout=self.fetch_timeout))
            await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch
                break
            try:
                msgs = fetch.result()
            except nats.errors.TimeoutError:
                timeouts += 1
                if timeouts >= self.rebind_after_timeouts:
                    timeouts = 0
                    sub, cfg = await self._rebind(sub)
                continue
            except Exception as e:  # noqa: BLE001 - connection lost, consumer deleted, ...
                log.warning("%s: fetch failed (%s); re-binding", self.durable, e)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    sub, cfg = await self._rebind(sub)
                continue
            timeouts = 0
            for msg in msgs:
                if counted:
                    LOAD.busy(self.service)
                outcome = "error"
                try:
                    outcome = await self._process(msg, cfg)
                finally:
                    if counted:
                        LOAD.idle(self.service, outcome)
        stopping.cancel()
        with contextlib.suppress(Exception):
            await bounded(sub.unsubscribe(), 1.0)  # the server may be hung

    async def _rebind(self, sub: JetStreamContext.PullSubscription
                      ) -> tuple[JetStreamContext.PullSubscription, ConsumerConfig]:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        return await self._bind()

    async def _handle_cancellable(self, delivery: Delivery) -> None:
        """Run the handler; a job cancelled before or during it is acked as done."""
        job_id = delivery.job_id
        if self.cancellations is None or job_id is None:
            await self.handle(delivery)
            return
        if job_id in self.cancellations.cancelled or await self.facts.last(job_id, "cancelled"):
            self.cancellations.cancelled.add(job_id)
            MESSAGES.labels(self.service, "cancelled").inc()
            return
        task = asyncio.ensure_future(self.handle(delivery))
        self.cancellations.track(job_id, task)
        try:
            await task
        except asyncio.CancelledError:
            if job_id not in self.cancellations.cancelled:
                raise  # we are being stopped, not the job
            log.info("%s: job %s cancelled; its work stopped", self.durable, job_id)
            MESSAGES.labels(self.service, "cancelled").inc()

    async def _heartbeat(self, msg: Msg, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _process(self, msg: Msg, cfg: ConsumerConfig) -> str:
        """Handle one message; returns the outcome (ack, nak, term)."""
        every = max(0.5, (cfg.ack_wait or 30.0) / 3)
        beat = asyncio.create_task(self._heartbeat(msg, every))
        started = time.perf_counter()
        attempt = msg.metadata.num_delivered
        last = attempt >= (cfg.max_deliver or 1) > 0
        delay = retry_delay(attempt, self.retry_delays)
        delivery = Delivery(subject=msg.subject, data=msg.data, attempt=attempt, last=last, retry_in=delay)
        with log_context(job_id=delivery.job_id, attempt=attempt, consumer=self.durable):
            return await self._settle(msg, delivery, beat, started)

    async def _settle(self, msg: Msg, delivery: Delivery, beat: asyncio.Task, started: float) -> str:
        """Run the handler on `delivery`, then ack, nak or term `msg`; returns which."""
        attempt, last, delay = delivery.attempt, delivery.last, delivery.retry_in
        try:
            await self._handle_cancellable(delivery)
            outcome = "ack"
        except Exception as e:  # noqa: BLE001 - any failure is retried or ends in a failure fact
            error: BaseException = e
            outcome = "term" if is_permanent(e) or last else "nak"
        finally:
            beat.cancel()
            HANDLE_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        try:
            if outcome == "ack":
                await msg.ack()
            elif outcome == "term":
                log.warning("%s: giving up on %s after %d deliveries: %s", self.durable, msg.subject, attempt,
                            error)
                try:
                    await self.on_failure(delivery, error)
                except Exception:
                    log.exception("%s: the failure callback of %s failed", self.durable, msg.subject)
                await msg.term()
            else:
                log.warning("%s: retrying %s in %.0fs: %r", self.durable, msg.subject, delay, error)
                await msg.nak(delay=delay)
        except Exception as e:  # noqa: BLE001 - the server is away: it redelivers after ack_wait
            log.warning("%s: could not %s %s (%s); the server redelivers it", self.durable, outcome, msg.subject, e)
        MESSAGES.labels(self.service, outcome).inc()
        return outcome


async def announce_object(js: JetStreamContext, ref: ObjectRef, origin: Origin) -> PubAck:
    """Publish "this object exists" on `minio.announce.<origin>`, deduped per job id."""
    msg = ObjectAnnounced(object=ref, origin=origin, at=utcnow())
    return await js.publish(announce_subject(origin), encode(msg),
                            headers={"Nats-Msg-Id": f"announce.{origin}.{job_id_for(ref)}"})
