"""The doors of the embedded stack's servers, each tried as a hostile local user would:
the store, its listeners and users, data files, Postgres and NATS credentials and roles, and
secrets kept out of logs and settings' reprs. (The API's doors: tests/integration/api/test_security.py.)"""

from __future__ import annotations

import asyncio
import json
import stat
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import nats
import pytest
from pydantic import SecretStr

from ops import natsauth
from runtime.jetstream.connection import NatsRefused, connect
from runtime.settings import Settings
from runtime.storage import store
from tests.integration.conftest import wait_for
from tests.media import media

pytestmark = pytest.mark.integration
CLIP = "valid/h264_1080x720_aac.flv"
NATS_ERRORS = (nats.errors.Error, TimeoutError, OSError)


def test_the_store_refuses_anonymous_requests_and_unsigned_urls(stack):
    client = stack.client()
    key = "raw/security-anon-probe.flv"
    store.upload_file(client, stack.settings.s3.bucket, key, media(CLIP))
    base = f"http://{stack.settings.s3.endpoint}/{stack.settings.s3.bucket}"
    assert httpx.get(f"{base}/{key}").status_code == 403
    assert httpx.get(f"{base}/?list-type=2").status_code == 403
    assert httpx.put(f"{base}/raw/evil.mp4", content=b"evil").status_code == 403
    assert httpx.delete(f"{base}/{key}").status_code == 403
    assert store.stat(client, stack.settings.s3.bucket, key) is not None
    assert store.stat(client, stack.settings.s3.bucket, "raw/evil.mp4") is None
    assert httpx.get(f"http://{stack.settings.s3.endpoint}/").status_code == 403  # the bucket list
    # presigned URLs are really signed, and really expire
    url = store.presigned_key_url(client, stack.settings.s3.bucket, key, timedelta(seconds=2))
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("security-anon-probe", "security-anon-probf")).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403
    time.sleep(3)
    assert httpx.get(url).status_code == 403


def test_the_store_listens_on_loopback_only_and_the_services_user_administers_nothing(stack):
    """MinIO's S3 and console listeners are loopback addresses only; the services' user
    (s3.json) reads and writes objects of the bucket but changes no bucket setting."""
    import subprocess

    from minio.error import S3Error

    pid = stack.servers.procs["minio"].pid
    listening = [line.split()[3] for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                                                             check=True).stdout.splitlines() if f"pid={pid}," in line]
    assert len(listening) >= 2 and all(a.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]") for a in listening), listening
    assert httpx.get(f"http://{stack.settings.s3.endpoint}/minio/health/live").status_code == 200
    client, bucket = stack.client(), stack.settings.s3.bucket
    refusals = {"make a bucket": lambda: client.make_bucket("tflow-intruder"),
                "set a bucket policy": lambda: client.set_bucket_policy(bucket, json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]},
                                                            "Action": ["s3:GetObject"],
                                                            "Resource": [f"arn:aws:s3:::{bucket}/*"]}]})),
                "remove the event rule": lambda: client.delete_bucket_notification(bucket),
                "delete the bucket": lambda: client.remove_bucket(bucket)}
    for what, attempt in refusals.items():
        with pytest.raises(S3Error) as refused:
            attempt()
        assert refused.value.code == "AccessDenied", what
    rules = stack.servers.root_client().get_bucket_notification(bucket)
    assert [q.queue for q in rules.queue_config_list] == [store.MINIO_NATS_ARN]


def test_no_data_file_is_readable_by_other_users(stack):
    data = stack.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o711  # traversable (for Postgres' own user), not listable
    inbox = stack.settings.inbox_dir.resolve()
    for path in data.iterdir():
        if path.resolve() == inbox:
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {oct(mode)}"
    secrets = data / "secrets"
    assert {"nats.json", "postgres.password", "s3.json", "minio-root.json", "stream.key"} <= {
        p.name for p in secrets.iterdir()}
    assert all(stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600) for p in secrets.rglob("*"))


def test_postgres_requires_the_password(stack):
    import asyncpg

    url = stack.settings.database.url or ""
    assert ":" in url.split("@")[0].split("//")[1], "the database URL carries a password"
    wrong = url.replace(url.split("@")[0].split(":")[-1], "wrong-password")
    no_password = url.replace(":" + url.split("@")[0].split(":")[-1] + "@", "@")

    async def attempt(u: str) -> None:
        conn = await asyncpg.connect(u)
        await conn.close()

    for bad in (wrong, no_password):
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
                            asyncpg.ClientCannotConnectError)):
            asyncio.run(attempt(bad))
    asyncio.run(attempt(url))


# --- finding 5: NATS authenticates every connection and checks every subject --------------

async def test_nats_refuses_anonymous_and_wrong_role_publishes(stack):
    url = stack.settings.nats.url
    with pytest.raises(NATS_ERRORS) as anon:
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)
    assert "authorization" in str(anon.value).lower() or isinstance(anon.value, nats.errors.NoServersError)
    passwords = natsauth.credentials(stack.settings.data_dir / "secrets")
    with pytest.raises(NATS_ERRORS):
        await nats.connect(url, user="transcoder", password="not-the-password", allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=3)

    # a service given a wrong password fails its start at once with the reason (never retries forever)
    t0 = time.monotonic()
    with pytest.raises(NatsRefused, match="refused user 'transcoder'"):
        await connect(stack.settings.updated(nats={"user": "transcoder", "password": SecretStr("wrong")}), "tests")
    assert time.monotonic() - t0 < 5
    admin = await nats.connect(url, user=natsauth.ADMIN, password=passwords[natsauth.ADMIN])
    seen: list[str] = []

    async def on_cancel(msg) -> None:
        seen.append(msg.subject)

    watch = await admin.subscribe("jobs.*.cancelled", cb=on_cancel)
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e))

    victim = str(uuid.uuid4())
    worker = await nats.connect(url, user="transcoder", password=passwords["transcoder"], error_cb=on_error)
    await worker.publish(f"jobs.{victim}.cancelled", b"{}")
    with pytest.raises(NATS_ERRORS):  # no ack from JetStream: the message never reached the stream
        await worker.jetstream().publish(f"jobs.{victim}.ingested.p05", b"{}", timeout=2)
    await worker.flush()
    await wait_for(lambda: asyncio.sleep(0, result=[e for e in errors if "ermissions" in e]), 5,
                   "a permissions violation")
    # each role reads only its own replies: another service's deliveries and acks are not its to see
    await worker.subscribe("_INBOX.>")
    await worker.flush()
    await wait_for(lambda: asyncio.sleep(0, result=[e for e in errors if "subscription" in e.lower()]), 5,
                   "a subscription permissions violation")
    api = await nats.connect(url, user="api", password=passwords["api"], error_cb=on_error)
    with pytest.raises(NATS_ERRORS):
        await api.jetstream().publish(f"jobs.{victim}.ingested.p05", b"{}", timeout=2)
    await asyncio.sleep(0.5)
    assert seen == []
    assert await admin.jetstream().find_stream_name_by_subject(f"jobs.{victim}.cancelled") == "JOBS"
    with pytest.raises(nats.js.errors.NotFoundError):
        await admin.jetstream().get_last_msg("JOBS", f"jobs.{victim}.cancelled")
    await watch.unsubscribe()
    for c in (worker, api, admin):
        await c.close()


# --- findings 3 and 4: tenant-scoped references and owner-namespaced originals -----------

def test_no_secret_reaches_a_log(stack):
    """Runs last in this module (after uploads, presigned reads, NATS logins)."""
    secrets_dir = stack.settings.data_dir / "secrets"
    secrets = [stack.admin_key, *natsauth.credentials(secrets_dir).values(),
               json.loads((secrets_dir / "s3.json").read_text())["secret_key"],
               json.loads((secrets_dir / "minio-root.json").read_text())["secret_key"],
               (secrets_dir / "postgres.password").read_text().strip(),
               (secrets_dir / "stream.key").read_text().strip()]
    logs = [p for d in (stack.logs, stack.settings.data_dir / "logs") for p in Path(d).glob("*.log")]
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret is in {path}"
        assert "X-Amz-Signature=" not in text.replace("X-Amz-Signature=[redacted]", ""), path


def test_settings_never_print_secrets():
    s = Settings(_env_file=None, s3={"secret_key": "very-secret"}, nats={"password": "pw-secret"})
    assert "very-secret" not in repr(s) and "pw-secret" not in repr(s)
