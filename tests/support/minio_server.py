"""A real MinIO server on loopback for tests and benchmarks (built with `make minio`),
publishing its bucket notifications to NATS JetStream like production's compose does."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from ops.processes import child_setup, stop_process
from ops.stack import LOOPBACK, _port, free_port, wait_for_port
from runtime.settings import Settings


@dataclass
class MinioServer:
    """A real MinIO server (built with `make minio`) on loopback, publishing its bucket
    notifications to NATS JetStream subject `minio.events` (target PRIMARY) with a
    `queue_dir`, so events survive a NATS outage. For tests and benchmarks; production
    runs MinIO from compose with the same settings."""

    binary: Path
    data_dir: Path
    nats_address: str
    port: int = 0
    user: str = "tflow"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: MinIO's NATS user (the `minio` role of `ops.natsauth`) and its password.
    nats_user: str | None = None
    nats_password: str | None = None
    #: More MinIO settings, e.g. `MINIO_PROMETHEUS_AUTH_TYPE=public` as compose sets it.
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> MinioServer:
        """Start MinIO and wait until it answers; returns self."""
        self.port = _port(self.port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MINIO_ROOT_USER=self.user, MINIO_ROOT_PASSWORD=self.password, MINIO_BROWSER="off",
                   MINIO_UPDATE="off", MINIO_CALLHOME_ENABLE="off",
                   MINIO_NOTIFY_NATS_ENABLE_PRIMARY="on", MINIO_NOTIFY_NATS_ADDRESS_PRIMARY=self.nats_address,
                   MINIO_NOTIFY_NATS_SUBJECT_PRIMARY="minio.events", MINIO_NOTIFY_NATS_JETSTREAM_PRIMARY="on",
                   MINIO_NOTIFY_NATS_QUEUE_DIR_PRIMARY=str(self.data_dir / ".events"),
                   MINIO_NOTIFY_NATS_QUEUE_LIMIT_PRIMARY="100000")
        if self.nats_user:
            env.update(MINIO_NOTIFY_NATS_USERNAME_PRIMARY=self.nats_user,
                       MINIO_NOTIFY_NATS_PASSWORD_PRIMARY=self.nats_password or "")
        env.update(self.extra_env)
        (self.data_dir / ".events").mkdir(exist_ok=True)
        with (self.data_dir.parent / "minio.log").open("ab") as log_file:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [str(self.binary), "server", "--quiet", "--address", self.endpoint,
                 "--console-address", f"{LOOPBACK}:{free_port()}", str(self.data_dir / "export")],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=child_setup)
        wait_for_port(self.port, 60, self.proc)
        return self

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this MinIO (endpoint and keys)."""
        return base.updated(s3={"endpoint": self.endpoint, "access_key": SecretStr(self.user), "secret_key": SecretStr(self.password)})

    def stop(self) -> None:
        """Stop MinIO (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is not None:
            stop_process(self.proc, "minio")
            self.proc = None
