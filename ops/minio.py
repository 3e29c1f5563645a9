"""The embedded MinIO server: how it is found, configured and provisioned.

MinIO is the store of `tflow up` and of the test session stack, as in production (compose):
loopback only, its console, update check and call-home off, data under `<data_dir>/minio`,
and its NATS JetStream notification target `PRIMARY` publishing every object created under
`raw/` of the bucket to `minio.events` as the `minio` NATS role (`ops.natsauth`).

The target publishes directly, without a `queue_dir`: MinIO re-reads a queue directory only
every 3 s (`retryInterval`, internal/store/store.go of the pinned source, not a setting),
which put 0-3 s on every job. An event MinIO cannot deliver while NATS is away is found by
ingest's reconcile sweep (`services.ingest.sweep`), which is the backstop.

Two users: the root user (`<data_dir>/secrets/minio-root.json`), which only provisioning
uses, and the services' user (`s3.json`, `ops.s3auth.keys`) with the `tflow-services`
policy: objects of the bucket only (get, put, delete, list, multipart), no bucket
administration. No bucket policy is set, so nothing is anonymous.

Sources: MinIO docs "MinIO Server" (`--address`, `--console-address`, MINIO_BROWSER),
"Publish Events to NATS" (MINIO_NOTIFY_NATS_*_<ID>, ARN `arn:minio:sqs::<ID>:nats`),
"Access Management" (policy JSON, `s3:*` actions), "Healthcheck API" (`/minio/health/live`:
`LIVE_PATH`; `/minio/health/cluster`: `READY_PATH`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from minio import Minio
from minio.error import S3Error

from runtime.storage import store

#: MinIO's liveness probe (Healthcheck API): 200 once the server serves requests.
LIVE_PATH = "/minio/health/live"
#: Answers 200 once the object layer has write quorum: a signed request before it gets a 503
#: with a `Retry-After` that urllib3 honours (a minute), so the embedded stack waits for this.
READY_PATH = "/minio/health/cluster"
#: The policy of the services' MinIO user (`service_policy`).
SERVICE_POLICY = "tflow-services"
#: Where `make minio` builds the server (Makefile `MINIO`).
BUILT = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "minio"


def binary() -> str:
    """The MinIO server program: `TFLOW_MINIO_BINARY`, else `.tools/bin/minio` (`make minio`),
    else `minio` on PATH. Raises FileNotFoundError naming the make target."""
    named = os.environ.get("TFLOW_MINIO_BINARY")
    for cand in (named, str(BUILT), shutil.which("minio")):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError(f"MinIO not found ({named or BUILT}): run `make minio` (Go builds it once into .tools/)")


def server_env(root_user: str, root_password: str, nats_address: str, nats_user: str, nats_password: str
               ) -> dict[str, str]:
    """MinIO's environment: root credentials, console/update/call-home off, and the NATS
    JetStream target `PRIMARY` -> `minio.events` at `nats_address` (host:port) as
    `nats_user`. compose.yaml sets the same `MINIO_NOTIFY_NATS_*` (a test holds them equal)."""
    return {"MINIO_ROOT_USER": root_user, "MINIO_ROOT_PASSWORD": root_password, "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off", "MINIO_CALLHOME_ENABLE": "off", **notify_env(nats_address, nats_user, nats_password)}


def notify_env(nats_address: str, nats_user: str, nats_password: str) -> dict[str, str]:
    """The `MINIO_NOTIFY_NATS_*_PRIMARY` settings of the JetStream target (no `queue_dir`:
    see the module's docstring)."""
    return {"MINIO_NOTIFY_NATS_ENABLE_PRIMARY": "on", "MINIO_NOTIFY_NATS_ADDRESS_PRIMARY": nats_address,
            "MINIO_NOTIFY_NATS_SUBJECT_PRIMARY": "minio.events", "MINIO_NOTIFY_NATS_JETSTREAM_PRIMARY": "on",
            "MINIO_NOTIFY_NATS_USERNAME_PRIMARY": nats_user, "MINIO_NOTIFY_NATS_PASSWORD_PRIMARY": nats_password}


def argv(program: str, host: str, port: int, console_port: int, drive: Path) -> list[str]:
    """`minio server` on `host:port` with its console on `host:console_port` (the console UI
    is off, the listener stays on loopback) and one drive."""
    return [program, "server", "--quiet", "--address", f"{host}:{port}", "--console-address",
            f"{host}:{console_port}", str(drive)]


def service_policy(bucket: str) -> dict:
    """The IAM policy of the services' user: the objects of `bucket` (read, write, delete,
    multipart) and listing it; no bucket configuration (policy, notifications, deletion)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                       "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}


def provision(endpoint: str, root: tuple[str, str], service: tuple[str, str], bucket: str,
              timeout: float = 20.0) -> None:
    """As root on a live MinIO (idempotent): the bucket, its `raw/` event rule to the NATS
    target (retried until MinIO has registered the target, at most `timeout` seconds), the
    `tflow-services` policy and the services' user `service = (access, secret)` under it.
    Raises `S3Error` or `minio.error.MinioAdminException` when MinIO refuses."""
    from minio import MinioAdmin
    from minio.credentials.providers import StaticProvider

    client = Minio(endpoint, access_key=root[0], secret_key=root[1], secure=False)
    store.ensure_bucket(client, bucket)
    deadline = time.monotonic() + timeout
    while True:
        try:
            store.configure_notifications(client, bucket)
            break
        except S3Error as e:  # "A specified destination ARN does not exist": target not up yet
            if e.code != "InvalidArgument" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    admin = MinioAdmin(endpoint=endpoint, credentials=StaticProvider(*root), secure=False)
    admin.policy_add(SERVICE_POLICY, policy=service_policy(bucket))
    admin.user_add(*service)
    info = json.loads(admin.user_info(service[0]) or "{}")
    if SERVICE_POLICY not in (info.get("policyName") or "").split(","):
        admin.attach_policy([SERVICE_POLICY], user=service[0])
