"""One typed settings object, read once from `TFLOW_*` environment variables, nested per
concern (`settings.nats.url`, `settings.s3.bucket`, `settings.worker.concurrency`, ...).

Each concern is its own `BaseSettings` with its own environment prefix, so the variable
names are the documented ones (`TFLOW_NATS_URL`, `TFLOW_S3_ENDPOINT`, `TFLOW_BUCKET`,
`TFLOW_WORKER_CONCURRENCY`, ...; README, Settings). Every endpoint left unset
(`nats.url`, `database.url`, `s3.endpoint`) means "start the embedded server" under
`tflow up`; a set one replaces it.

Secrets are read once, at start (`Settings.with_secrets`, which `get_settings` applies):
a secret given in the environment wins, else its file under `<data_dir>` (mode 0600) is
read into the settings; nothing reads a secret file per request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.prd import SOURCE_CONTAINERS
from media.ladder import DEFAULT_ENCODING_PROFILE, ENCODING_PROFILES
from runtime.upkeep import BackupSettings, UpkeepSettings


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


def _env(name: str, field: str) -> AliasChoices:
    """A field read from the environment variable `name` (not `<prefix><field>`), and
    still settable by its field name in code."""
    return AliasChoices(name, field)


class NatsSettings(BaseSettings):
    """NATS and JetStream (`TFLOW_NATS_*`)."""

    model_config = _config("TFLOW_NATS_")

    url: str | None = Field(None, description="NATS server(s): one URL, or a comma-separated list of a "
                            "cluster's nodes (the client fails over between them).")
    replicas: int | None = Field(None, ge=1, le=5, description="Copies of each stream `tflow bootstrap` "
                                 "creates (3 on a three-node cluster); unset = what contracts/nats says (1).")
    user: str | None = Field(None, description="NATS user of this process (`tflow up` gives each service "
                             "its own role); unset = no authentication.")
    password: SecretStr | None = Field(None, description="Else the user's entry of "
                                       "<data_dir>/secrets/nats.json (read once at start).")
    sync_interval: str = Field("always", description="JetStream fsync policy of the embedded NATS: "
                               "`always` (every write on disk before its ack; see README, Reliability) or "
                               "a period such as `2m` (nats-server's default).")
    port: int = Field(4222, description="Port of the embedded NATS (loopback).")
    fetch_timeout_seconds: float = Field(30.0, validation_alias=_env("TFLOW_FETCH_TIMEOUT_SECONDS",
                                                                     "fetch_timeout_seconds"),
                                         description="Expiry of a consumer's waiting pull request (s); a reconnect "
                                         "sends a new one at once. At 5 s idle polls cost NATS 0.3 CPU-s a minute.")
    rebind_after_timeouts: int = Field(4, validation_alias=_env("TFLOW_REBIND_AFTER_TIMEOUTS",
                                                                 "rebind_after_timeouts"))


class DatabaseSettings(BaseSettings):
    """PostgreSQL (`TFLOW_DATABASE_URL`)."""

    model_config = _config("TFLOW_DATABASE_")

    url: str | None = None


class S3Settings(BaseSettings):
    """The object store (`TFLOW_S3_*`, `TFLOW_BUCKET`)."""

    model_config = _config("TFLOW_S3_")

    endpoint: str | None = Field(None, description="host:port of any S3 endpoint (MinIO, AWS, ...); "
                                 "unset = the embedded MinIO.")
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    secure: bool = False
    region: str | None = None
    bucket: str = Field("videos", validation_alias=_env("TFLOW_BUCKET", "bucket"))
    public_url: str | None = Field(None, description="scheme://host[:port] clients reach the store at for "
                                   "presigned URLs (NGINX in production: it passes signed requests on); "
                                   "unset = the S3 endpoint itself.")
    port: int = Field(8333, description="Port of the embedded store (loopback).")


class ApiSettings(BaseSettings):
    """The REST API (`TFLOW_API_*`) and what its routes may read."""

    model_config = _config("TFLOW_API_")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(0, description="uvicorn worker processes for the API; 0 = one per core.")
    access_log: bool = Field(False, description="uvicorn's access log (one line per request; keys and "
                             "tokens in URLs are redacted).")
    admin_key: SecretStr | None = Field(None, validation_alias=_env("TFLOW_ADMIN_KEY", "admin_key"),
                                        description="Admin API key; else <data_dir>/admin.key (0600).")
    reference_prefixes: list[str] = Field(
        default_factory=lambda: ["{bucket}/uploads/{owner}/"],
        validation_alias=_env("TFLOW_REFERENCE_PREFIXES", "reference_prefixes"), description=(
            "bucket/prefix patterns POST /jobs/minio may read (JSON list); {bucket} = the pipeline's bucket, "
            "{owner} = the caller's API key id (the admin key: any). raw/, meta/ and processed/ never."))
    fs_roots: list[Path] = Field(default_factory=list, validation_alias=_env("TFLOW_FS_ROOTS", "fs_roots"),
                                 description="Roots POST /jobs/filesystem may read (JSON list); empty = that "
                                 "route is refused.")
    projector_stall_seconds: float = Field(
        30.0, validation_alias=_env("TFLOW_PROJECTOR_STALL_SECONDS", "projector_stall_seconds"),
        description="Health is not OK when facts wait and the projector's checkpoint has not moved this long.")


class MetricsSettings(BaseSettings):
    """The services' Prometheus `/metrics` servers (`TFLOW_METRICS_*`)."""

    model_config = _config("TFLOW_METRICS_")

    port: int | None = Field(None, description="Prometheus /metrics port of this service; unset = off "
                             "(`tflow up` sets it per service from port_base).")
    host: str = Field("127.0.0.1", description="Address the services' /metrics servers bind (compose: "
                      "0.0.0.0 inside each container).")
    port_base: int = Field(9101, description="`tflow up`: the n-th service of `services.SERVICES` serves "
                           "/metrics on this port + n (the API on its own port); 0 = any free ports.")


class IntakeSettings(BaseSettings):
    """What a source must be to become a job (PRD §validation), and the drop folder."""

    model_config = _config("TFLOW_")

    allowed_containers: list[str] = Field(default_factory=lambda: list(SOURCE_CONTAINERS))
    max_size_bytes: int = 20 * 10**9
    max_frame_pixels: int = Field(8192 * 4320, description="Largest video frame accepted, in pixels (8K "
                                  "DCI); larger frames are refused before one is decoded (resolution_too_high).")
    max_pixel_frames: float = Field(1920 * 1080 * 60 * 86400.0, description="Per-job budget: width x height x "
                                    "fps x duration (default 24 h of 1080p60); beyond it over_budget.")
    min_duration_seconds: float = 1.0
    max_duration_seconds: float = 24 * 3600.0
    min_width: int = 640
    min_height: int = 360
    max_metadata_bytes: int = 16 * 1024
    inbox_settle_seconds: float = Field(2.0, description="A drop-folder file is taken once its size/mtime held "
                                        "this long and no process holds it open for writing.")
    inbox_verdict_timeout_seconds: float = Field(120.0, description="How long the drop folder waits for "
                                                 "ingest's verdict before filing a file under failed/ as unknown.")
    sweep_interval_seconds: float = Field(10.0, description="Period of the raw/ reconcile sweep (the backstop "
                                          "of bucket events lost while NATS was away); 0 = off.")
    sweep_grace_seconds: float = Field(2.0, description="The sweep leaves objects younger than this to their "
                                       "own bucket event or announcement.")
    probe_timeout_seconds: float = 30.0


class MediaSettings(BaseSettings):
    """How the media work is done: ffmpeg, the ladder's encoding profile, quality figures."""

    model_config = _config("TFLOW_")

    ffmpeg: str | None = Field(None, description="ffmpeg binary; default the imageio-ffmpeg one.")
    transcription: bool = Field(True, description="Plan a transcription task for sources with audio.")
    quality_metrics: bool = Field(True, description="VMAF per rendition (sources shorter than the limit).")
    quality_psnr_ssim: bool = Field(False, description="PSNR and SSIM besides VMAF.")
    quality_max_duration_seconds: float = Field(21600.0, description="No quality figures from this length on (s).")
    quality_subsample: int | None = Field(None, ge=1, description="VMAF scores one frame in N (libvmaf n_subsample); "
                                          "default media.encode.quality_subsample (about 11).")
    encoding_profile: str = Field(DEFAULT_ENCODING_PROFILE, description="x264 settings of the ladder by name: "
                                  f"{', '.join(ENCODING_PROFILES)} (media.ladder; prd = libx264 medium, CRF 23/22).")
    progress_interval_seconds: float = Field(1.0, description="At most one progress fact per task this often.")

    @field_validator("encoding_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in ENCODING_PROFILES:
            raise ValueError(f"unknown encoding profile {value!r}: one of {', '.join(ENCODING_PROFILES)}")
        return value


class WhisperSettings(BaseSettings):
    """faster-whisper (`TFLOW_WHISPER_*`, `TFLOW_MODELS_DIR`)."""

    model_config = _config("TFLOW_WHISPER_")

    model_dir: Path | None = Field(None, description="A CTranslate2 Whisper model used for every job.")
    models_dir: Path | None = Field(None, validation_alias=_env("TFLOW_MODELS_DIR", "models_dir"),
                                    description="Where the Whisper models of the wheels are assembled and "
                                    "verified; default <data_dir>/models (the transcriber image: baked in).")
    compute_type: str = Field("int8", description="CTranslate2 compute type on CPU (int8, float32).")
    threads: int = Field(0, description="CPU threads for Whisper; 0 = all cores.")
    beam_size: int = Field(1, description="Whisper's beam size (1 = greedy: in bench/whisper.py the same "
                           "WER as 5 on the LibriVox clips, 1.2x faster).")


class OutputSettings(BaseSettings):
    """How outputs are reached: presigned URLs, stream tokens, a public base URL."""

    model_config = _config("TFLOW_")

    public_base_url: str | None = Field(None, description="Base URL of the bucket as NGINX serves it (e.g. "
                                        "https://media.example.com/videos, deploy/nginx/); unset = presigned URLs "
                                        "and stream tokens on this API.")
    stream_tokens: bool = Field(True, description="Outputs under public_base_url need a stream token in the path "
                                "(NGINX secure_link, README Production); false = a public catalogue.")
    url_lifetime_seconds: float = Field(3600.0, description="Lifetime of presigned output URLs and stream tokens "
                                        "in job documents.")
    stream_secret: SecretStr | None = Field(None, description="Signs stream tokens; else "
                                            "<data_dir>/secrets/stream.key (0600).")

    def public_url(self, key: str, token: str | None = None) -> str | None:
        """URL of output `key` (`processed/<job>/<rest>`) under `public_base_url`:
        `<base>/processed/<job>/<token>/<rest>` with a stream token (`intake.streamtoken`),
        `<base>/<key>` without; None when there is no public base URL (then outputs are
        reached by presigned URLs and stream tokens on the API)."""
        if not self.public_base_url:
            return None
        base = self.public_base_url.rstrip("/")
        if token is None:
            return f"{base}/{key}"
        top, job, rest = key.split("/", 2)
        return f"{base}/{top}/{job}/{token}/{rest}"


class WorkerSettings(BaseSettings):
    """The workers' consumer loops, retries and watchdog."""

    model_config = _config("TFLOW_")

    work_dir: Path | None = Field(None, description="Parent of per-job temp directories; default the system temp.")
    background_nice: int = Field(10, ge=0, le=19, description="How much the thumbnailer and transcriber lower "
                                 "their CPU priority (nice), so the transcoder's encode, which makes a job "
                                 "playable, gets the cores first; 0 = same priority.")
    concurrency: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto", validation_alias=_env("TFLOW_WORKER_CONCURRENCY", "concurrency"),
        description="Tasks one service process runs at once (PRD worker concurrency); every replica adds as many. "
        "auto: one per two cores (runtime.worker.runner.tasks_at_once).")
    priority_aging_seconds: float = Field(60.0, ge=0, description="A queued job's priority rises by one every this "
                                          "many seconds it waits, so low priorities are never starved (0: strict).")
    retry_delays_seconds: list[float] = Field(default_factory=lambda: [10.0, 30.0, 60.0, 120.0, 300.0],
                                              description="Delay before each redelivery of a transiently failed "
                                              "task (JSON list, s); the last repeats up to max_deliver (PRD FR-4.2).")
    task_stall_seconds: float = Field(120.0, description="A task whose ffmpeg position (or Whisper segment) "
                                      "has not moved this long is killed and retried.")
    task_time_limit_base_seconds: float = Field(600.0, description="Per-task time limit: this plus "
                                                "task_time_limit_factor times the media duration.")
    task_time_limit_factor: float = Field(10.0, description="Seconds of work allowed per second of media, "
                                          "on top of the base.")

    def task_time_limit(self, media_seconds: float) -> float:
        """The time limit of one task on `media_seconds` of media, in seconds."""
        return self.task_time_limit_base_seconds + self.task_time_limit_factor * max(0.0, media_seconds)


class WebhookSettings(BaseSettings):
    """Webhook targets and deliveries (`TFLOW_WEBHOOK_*`)."""

    model_config = _config("TFLOW_WEBHOOK_")

    allow_private: bool = Field(False, validation_alias=_env("TFLOW_ALLOW_PRIVATE_WEBHOOKS", "allow_private"),
                                description="Allow webhook URLs resolving to loopback, private or link-local "
                                "addresses (SSRF guard off).")
    allowed_hosts: list[str] = Field(default_factory=list, description="host:port webhook targets allowed even "
                                     "when private (JSON list).")
    secret: SecretStr | None = Field(None, description="Signs webhooks of jobs without an API key; else "
                                     "<data_dir>/webhook.key (0600).")
    max_attempts: int = 6
    backoff_seconds: float = Field(10.0, description="First retry delay; doubles per attempt.")
    timeout_seconds: float = 10.0


class LogSettings(BaseSettings):
    """Log lines (`TFLOW_LOG_*`)."""

    model_config = _config("TFLOW_LOG_")

    level: str = "INFO"
    format: str = Field("auto", description="`json` (JSON Lines), `text`, or `auto`: text on a terminal, "
                        "JSON otherwise.")


#: The concerns, by attribute name: what `Settings.updated` accepts besides top-level fields.
CONCERNS: dict[str, type[BaseSettings]] = {
    "nats": NatsSettings, "database": DatabaseSettings, "s3": S3Settings, "api": ApiSettings,
    "metrics": MetricsSettings, "intake": IntakeSettings, "media": MediaSettings, "whisper": WhisperSettings,
    "outputs": OutputSettings, "worker": WorkerSettings, "webhooks": WebhookSettings, "logs": LogSettings,
    "upkeep": UpkeepSettings, "backup": BackupSettings,
}


def _read(path: Path) -> SecretStr | None:
    return SecretStr(path.read_text().strip()) if path.exists() else None


class Settings(BaseSettings):
    """Transcode Flow settings: where state lives, and one nested model per concern."""

    model_config = SettingsConfigDict(env_prefix="TFLOW_", extra="ignore")

    environment: str = Field("development", description="`production` refuses to start with missing, short or "
                             "placeholder secrets (runtime.guard).")
    data_dir: Path = Field(Path("data"), description="State of the embedded stack (servers' data, admin key, models).")
    inbox: Path | None = Field(None, description="Drop folder; default <data_dir>/inbox.")

    nats: NatsSettings = Field(default_factory=NatsSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    whisper: WhisperSettings = Field(default_factory=WhisperSettings)
    outputs: OutputSettings = Field(default_factory=OutputSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    upkeep: UpkeepSettings = Field(default_factory=UpkeepSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    def updated(self, **changes: Any) -> Settings:
        """A copy with top-level fields replaced and concerns' fields merged:
        `s.updated(data_dir=p, s3={"endpoint": "127.0.0.1:9000"})`. Raises KeyError for
        an unknown field."""
        update: dict[str, Any] = {}
        for name, value in changes.items():
            if name in CONCERNS and isinstance(value, dict):
                group: BaseModel = getattr(self, name)
                unknown = set(value) - set(type(group).model_fields)
                if unknown:
                    raise KeyError(f"settings.{name} has no {', '.join(sorted(unknown))}")
                update[name] = group.model_copy(update=value)
            elif name in type(self).model_fields:
                update[name] = value
            else:
                raise KeyError(f"settings have no {name!r}")
        return self.model_copy(update=update)

    def with_secrets(self) -> Settings:
        """A copy whose secrets are all read: each one the environment did not give is read
        from its file under `data_dir` when that exists (the admin key `admin.key`, the
        stream key `secrets/stream.key`, the webhook key `webhook.key`, this process's NATS
        password from `secrets/nats.json`). Called once at a process's start."""
        changes: dict[str, Any] = {}
        if self.api.admin_key is None and (key := _read(self.data_dir / "admin.key")):
            changes["api"] = {"admin_key": key}
        if self.outputs.stream_secret is None and (key := _read(self.data_dir / "secrets" / "stream.key")):
            changes["outputs"] = {"stream_secret": key}
        if self.webhooks.secret is None and (key := _read(self.data_dir / "webhook.key")):
            changes["webhooks"] = {"secret": key}
        stored = self.data_dir / "secrets" / "nats.json"
        if self.nats.user and self.nats.password is None and stored.exists():
            password = json.loads(stored.read_text()).get(self.nats.user)
            if password is not None:
                changes["nats"] = {"password": SecretStr(str(password))}
        return self.updated(**changes) if changes else self

    def admin_key_value(self) -> str | None:
        """The admin key (`TFLOW_ADMIN_KEY`, or `<data_dir>/admin.key` once `with_secrets` read it)."""
        return secret_value(self.api.admin_key)

    def stream_secret_value(self) -> str | None:
        """The stream-token key (`TFLOW_STREAM_SECRET`, or `<data_dir>/secrets/stream.key`)."""
        return secret_value(self.outputs.stream_secret)

    def webhook_secret_value(self) -> str | None:
        """The webhook signing key (`TFLOW_WEBHOOK_SECRET`, or `<data_dir>/webhook.key`)."""
        return secret_value(self.webhooks.secret)

    @property
    def whisper_models_dir(self) -> Path:
        """`whisper.models_dir` if set, else `<data_dir>/models`."""
        return self.whisper.models_dir if self.whisper.models_dir is not None else self.data_dir / "models"

    @property
    def inbox_dir(self) -> Path:
        """The drop folder: `inbox` if set, else `<data_dir>/inbox`."""
        return self.inbox if self.inbox is not None else self.data_dir / "inbox"


def _variable(model: type[BaseSettings], name: str) -> str:
    alias = model.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{model.model_config.get('env_prefix', '')}{name}".upper()


def environment_variables() -> list[str]:
    """Every variable the settings read (`TFLOW_DATA_DIR`, ...): what `.env.example` documents."""
    names = [_variable(Settings, n) for n in Settings.model_fields if n not in CONCERNS]
    return names + [_variable(model, n) for model in CONCERNS.values() for n in model.model_fields]


def secret_value(secret: SecretStr | None) -> str | None:
    """The plain value of a secret setting, or None when it is unset."""
    return secret.get_secret_value() if secret is not None else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment, secrets included."""
    return Settings().with_secrets()
