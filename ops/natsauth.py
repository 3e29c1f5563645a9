"""Who may do what on NATS: one user per role (each service, the API, an admin), each
allowed to publish and subscribe only where its work needs (nats-server `authorization`
with per-user `permissions`; everything not allowed is denied, anonymous connections are
refused). Passwords are generated once into `<data_dir>/secrets/nats.json` (0600); the
server's config carries only their bcrypt hashes.

Subjects (DESIGN.md, `contracts.subjects`): facts `jobs.<job_id>.<event>[.<task>][.p<NN>]`, announcements
`minio.announce.<origin>`. JetStream's API subjects are the ones nats-py uses:
`$JS.API.CONSUMER.{INFO,CREATE,DURABLE.CREATE,MSG.NEXT}.<stream>.<durable>`, acks on
`$JS.ACK.<stream>.<durable>.>`, reads of a job's last fact `$JS.API.STREAM.MSG.GET.JOBS`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import BANDED_EVENTS, layout
from media.ladder import LADDER
from ops.secrets import private_file, secret_json, token
from runtime.jetstream.connection import ADMIN_USER
from runtime.jetstream.connection import inbox_prefix
from runtime.jetstream.definitions import consumer_group

#: bcrypt cost of the hashes in the server config, checked on every connection. The
#: passwords are 192 random bits, so no cost makes guessing them any harder; the hash
#: keeps the password out of the config file. Cost 10 measured 78 ms per connect here
#: (bench/security_overhead.py), cost 6 a few ms.
BCRYPT_ROUNDS = 6
#: The NATS user that creates streams (bootstrap, CLI, tests): no permissions block.
ADMIN = ADMIN_USER
TASK_EVENTS = ("task_started", "task_progress", "task_completed", "task_failed")


@dataclass(frozen=True)
class Role:
    """What one NATS user may do: durable consumers `(stream, durable)` it pulls from,
    subjects it publishes facts or announcements on, whether it follows cancellations,
    reads the stream with an ordered consumer (the projector), or inspects streams and
    consumers (the API's health routes)."""

    consumers: tuple[tuple[str, str], ...] = ()
    publish: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    cancels: bool = False
    ordered_reader: bool = False
    monitor: bool = False


def _video_tasks(kind: str) -> tuple[str, ...]:
    task = layout.video_task if kind == "video" else layout.hls_task
    return tuple(task(r) for r in LADDER)


#: Every NATS user but the admin; the key is the user name (a service's name).
def _dead(durable: str) -> tuple[str, str]:
    """The DLQ consumer of `durable`'s dead letters (`contracts/nats/consumers/DLQ/`)."""
    return ("DLQ", f"dead_{durable}")


ROLES: dict[str, Role] = {
    "ingest": Role(consumers=(("MINIO", "ingest"), _dead("ingest")),
                   publish=("jobs.*.received", "jobs.*.ingested.*", "jobs.*.rejected",
                            "minio.announce.inbox", "minio.announce.sweep", "$JS.API.STREAM.MSG.GET.MINIO")),
    "transcoder": Role(consumers=(("JOBS", "transcoder"), _dead("transcoder")),
                       tasks=(*_video_tasks("video"), *_video_tasks("hls"), layout.MP3_TASK), cancels=True),
    "packager": Role(consumers=(("FINALIZE", "finalizer"), _dead("finalizer")),
                     publish=("$JS.API.STREAM.MSG.GET.FINALIZE",),
                     tasks=(layout.METADATA_TASK,), cancels=True),
    "thumbnailer": Role(consumers=(("JOBS", "thumbnailer"), _dead("thumbnailer")),
                        tasks=(layout.THUMBNAILS_TASK, layout.CUSTOM_THUMBNAIL_TASK), cancels=True),
    "transcriber": Role(consumers=(("JOBS", "transcriber"), _dead("transcriber")),
                        publish=(f"jobs.*.transcript_text.{layout.TRANSCRIPTION_TASK}",),
                        tasks=(layout.TRANSCRIPTION_TASK,), cancels=True),
    "projector": Role(ordered_reader=True, monitor=True),
    # admin routes: dead letters are read from DLQ and re-driven as replays or announcements
    "api": Role(publish=("minio.announce.api", "jobs.*.cancelled", "jobs.*.replayed.*", "jobs.*.deleted",
                         "$JS.API.STREAM.MSG.GET.DLQ", "$JS.API.STREAM.MSG.GET.MINIO",
                         "$JS.API.STREAM.MSG.GET.FINALIZE"), monitor=True),
    # MinIO's own NATS notification target (MINIO_NOTIFY_NATS_USERNAME/_PASSWORD): bucket events only
    "minio": Role(publish=("minio.events",)),
}


#: Roles whose client cannot choose its inbox prefix (MinIO's nats.go target): `_INBOX.>`.
DEFAULT_INBOX_ROLES = frozenset({"minio"})



def _consumer_api(stream: str, durable: str) -> list[str]:
    """The JetStream API subjects a puller of consumer `durable` on `stream` publishes to."""
    return [f"$JS.API.CONSUMER.INFO.{stream}.{durable}", f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>", f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", f"$JS.ACK.{stream}.{durable}.>"]


def permissions(role: Role, user: str) -> dict[str, Any]:
    """The nats-server `permissions` block of `role` for `user` (allow lists; the rest is denied)."""
    pub = ["$JS.API.INFO", "$JS.API.STREAM.INFO.JOBS", "$JS.API.STREAM.MSG.GET.JOBS", *role.publish]
    pub += [f"jobs.*.{event}.{task}" + (".*" if event in BANDED_EVENTS else "")
            for task in role.tasks for event in TASK_EVENTS]
    sub = ["_INBOX.>" if user in DEFAULT_INBOX_ROLES else f"{inbox_prefix(user)}.>"]
    for stream, name in role.consumers:
        group = consumer_group(stream, name)
        if group.split == "priority":  # the doorbell of an idle banded consumer (runtime.jetstream.consumer)
            sub += group.base.filter_subjects or [group.base.filter_subject or ""]
        pub += [f for durable in group.names for f in _consumer_api(stream, durable)]
    if role.cancels:
        sub.append("jobs.*.cancelled")
    if role.ordered_reader:
        pub += ["$JS.API.CONSUMER.CREATE.JOBS", "$JS.API.CONSUMER.CREATE.JOBS.*.>",
                "$JS.API.CONSUMER.DELETE.JOBS.*", "$JS.FC.>"]
    if role.monitor:
        pub += ["$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.INFO.*.*", "$JS.API.STREAM.NAMES",
                "$JS.API.CONSUMER.NAMES.*"]
    return {"publish": {"allow": sorted(set(pub))}, "subscribe": {"allow": sorted(set(sub))}}


def credentials(secrets_dir: Path) -> dict[str, str]:
    """`{user: password}` for the admin and every role, generated once into
    `secrets_dir/nats.json` (0600)."""
    users = [ADMIN, *ROLES]
    return secret_json(secrets_dir / "nats.json", {u: token() for u in users})



def _hashes(secrets_dir: Path, passwords: dict[str, str]) -> dict[str, str]:
    """bcrypt hashes of `passwords`, cached in `secrets_dir/nats.hashes.json` (0600) with
    the SHA-256 of the password each was made from: a hash is made once per password and
    kept while the password stays."""
    import bcrypt

    path = secrets_dir / "nats.hashes.json"
    cached: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    fresh = {}
    for user, password in passwords.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        entry = cached.get(user)
        if not isinstance(entry, dict) or entry.get("sha256") != digest:
            entry = {"sha256": digest,
                     "bcrypt": bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()}
        fresh[user] = entry
    if fresh != cached:
        private_file(path, json.dumps(fresh, indent=2, sort_keys=True) + "\n")
    return {user: entry["bcrypt"] for user, entry in fresh.items()}


def server_config(*, host: str, port: int, store_dir: Path, secrets_dir: Path,
                  sync_interval: str | None = None, server_name: str = "tflow",
                  cluster_port: int | None = None, routes: list[str] | None = None) -> str:
    """The nats-server config (JSON is valid NATS config syntax): listener, JetStream under
    `store_dir`, one user per role with bcrypt-hashed passwords. With `cluster_port`, a
    node of cluster `tflow` (routes listening on `host:cluster_port`, `routes` the
    `nats-route://host:port` of every node); `server_name` must differ per node."""
    hashes = _hashes(secrets_dir, credentials(secrets_dir))
    users: list[dict[str, Any]] = [{"user": ADMIN, "password": hashes[ADMIN]}]
    users += [{"user": name, "password": hashes[name], "permissions": permissions(role, name)}
              for name, role in ROLES.items()]
    js: dict[str, Any] = {"store_dir": str(store_dir)}
    if sync_interval:
        js["sync_interval"] = sync_interval
    conf: dict[str, Any] = {"host": host, "port": port, "server_name": server_name, "jetstream": js,
                            "authorization": {"users": users}}
    if cluster_port is not None:
        conf["cluster"] = {"name": "tflow", "host": host, "port": cluster_port, "routes": routes or []}
    return json.dumps(conf, indent=2)
