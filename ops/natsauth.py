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

from contracts import BANDED_EVENTS
from ops.secrets import private_file, secret_json, token
from ops.services import DECLARED
from runtime.jetstream.connection import ADMIN_USER, inbox_prefix
from runtime.jetstream.definitions import consumer_group
from runtime.worker.declaration import Service

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


def role_of(service: Service) -> Role:
    """The NATS role a service's declaration asks for: its consumers and their dead-letter
    consumers, the subjects it publishes, the facts of its tasks, cancellations, ordered
    reads of JOBS, monitoring."""
    return Role(consumers=(*((c.stream, c.durable) for c in service.consumers), *service.dead_letter_consumers),
                publish=service.publishes, tasks=service.tasks, cancels=service.cancels,
                ordered_reader=service.ordered_reader, monitor=service.monitor)


#: Every NATS user but the admin; the key is the user name: each declared service's role
#: (`ops.services.DECLARED`; the notifier uses no NATS), and MinIO's own NATS notification target
#: (MINIO_NOTIFY_NATS_USERNAME/_PASSWORD), which publishes bucket events only.
ROLES: dict[str, Role] = {
    **{name: role for name, service in DECLARED.items() if (role := role_of(service)) != Role()},
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
