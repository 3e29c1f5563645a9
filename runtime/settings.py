"""One typed settings object, read once from `TFLOW_*` environment variables.

Every endpoint left unset (`nats_url`, `database_url`, `s3_endpoint`) means
"start the embedded server" under `tflow up`; a set one replaces it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from media.ladder import DEFAULT_ENCODING_PROFILE, ENCODING_PROFILES

#: PRD container allowlist (file extensions / container names).
PRD_CONTAINERS = ("mp4", "avi", "mov", "mkv", "flv", "wmv", "webm")


class Settings(BaseSettings):
    """Transcode Flow settings; environment prefix `TFLOW_` (e.g. `TFLOW_API_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="TFLOW_", extra="ignore")

    environment: str = Field("development", description="`production` refuses to start with missing, short or "
                             "placeholder secrets (ops.production).")

    # --- where things live -------------------------------------------------
    data_dir: Path = Field(Path("data"), description="State of the embedded stack (servers' data, admin key, models).")
    inbox: Path | None = Field(None, description="Drop folder; default <data_dir>/inbox.")

    # --- endpoints (unset = embedded server under `tflow up`) ----------------
    nats_url: str | None = Field(None, description="NATS server(s): one URL, or a comma-separated list of a "
                                 "cluster's nodes (the client fails over between them).")
    nats_replicas: int | None = Field(None, ge=1, le=5, description="Copies of each stream `tflow bootstrap` "
                                      "creates (3 on a three-node cluster); unset = what contracts/nats says (1).")
    nats_user: str | None = Field(None, description="NATS user of this process (`tflow up` gives each service "
                                  "its own role); unset = no authentication.")
    nats_password: SecretStr | None = None
    nats_sync_interval: str = Field("always", description="JetStream fsync policy of the embedded NATS: "
                                    "`always` (every write on disk before its ack; see README, Reliability) or "
                                    "a period such as `2m` (nats-server's default).")
    database_url: str | None = None
    s3_endpoint: str | None = Field(None, description="host:port of any S3 endpoint (MinIO, SeaweedFS, AWS).")
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_secure: bool = False
    s3_region: str | None = None
    bucket: str = "videos"
    s3_public_url: str | None = Field(None, description="scheme://host[:port] clients reach the store at for "
                                      "presigned URLs (NGINX in production: it passes signed requests on); "
                                      "unset = the S3 endpoint itself.")

    # --- embedded stack ports (loopback only) -------------------------------
    nats_port: int = 4222
    s3_port: int = 8333
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(0, description="uvicorn worker processes for the API; 0 = one per core.")
    api_access_log: bool = Field(False, description="uvicorn's access log (one line per request; keys and "
                                 "tokens in URLs are redacted).")
    metrics_port: int | None = Field(None, description="Prometheus /metrics port of this service; unset = off "
                                     "(`tflow up` sets it per service from metrics_port_base).")
    metrics_host: str = Field("127.0.0.1", description="Address the services' /metrics servers bind (compose: "
                              "0.0.0.0 inside each container).")
    metrics_port_base: int = Field(9101, description="`tflow up`: the n-th service of `services.SERVICES` serves "
                                   "/metrics on this port + n (the API on its own port); 0 = any free ports.")

    # --- auth ---------------------------------------------------------------
    admin_key: SecretStr | None = Field(None, description="Admin API key; else read from <data_dir>/admin.key (0600).")

    # --- ingest policy (PRD §validation) ------------------------------------
    allowed_containers: list[str] = Field(default_factory=lambda: list(PRD_CONTAINERS))
    max_size_bytes: int = 20 * 10**9
    min_duration_seconds: float = 1.0
    max_duration_seconds: float = 24 * 3600.0
    min_width: int = 640
    min_height: int = 360
    max_metadata_bytes: int = 16 * 1024
    inbox_settle_seconds: float = Field(2.0, description="A drop-folder file is taken once its size/mtime held "
                                        "this long and no process holds it open for writing.")
    inbox_verdict_timeout_seconds: float = Field(120.0, description="How long the drop folder waits for "
                                                 "ingest's verdict before filing a file under failed/ as unknown.")
    sweep_interval_seconds: float = Field(60.0, description="Period of the raw/ reconcile sweep; 0 = off.")
    probe_timeout_seconds: float = 30.0

    # --- media work ----------------------------------------------------------
    ffmpeg: str | None = Field(None, description="ffmpeg binary; default the imageio-ffmpeg one.")
    work_dir: Path | None = Field(None, description="Parent of per-job temp directories; default the system temp.")
    transcription: bool = Field(True, description="Plan a transcription task for sources with audio.")
    whisper_model_dir: Path | None = Field(None, description="A CTranslate2 Whisper model used for every job.")
    models_dir: Path | None = Field(None, description="Where the Whisper models of the wheels are assembled and "
                                    "verified; default <data_dir>/models (the transcriber image: baked in).")
    whisper_compute_type: str = Field("int8", description="CTranslate2 compute type on CPU (int8, float32).")
    whisper_threads: int = Field(0, description="CPU threads for Whisper; 0 = all cores.")
    whisper_beam_size: int = Field(1, description="Whisper's beam size (1 = greedy: in bench/whisper.py the same "
                                   "WER as 5 on the LibriVox clips, 1.2x faster).")
    quality_metrics: bool = Field(True, description="VMAF per rendition (sources shorter than the limit).")
    quality_psnr_ssim: bool = Field(False, description="PSNR and SSIM besides VMAF.")
    encoding_profile: str = Field(DEFAULT_ENCODING_PROFILE, description="x264 settings of the ladder by name: "
                                  f"{', '.join(ENCODING_PROFILES)} (media.ladder; prd = libx264 medium, CRF 23/22).")
    quality_max_duration_seconds: float = 600.0

    @field_validator("encoding_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in ENCODING_PROFILES:
            raise ValueError(f"unknown encoding profile {value!r}: one of {', '.join(ENCODING_PROFILES)}")
        return value
    public_base_url: str | None = Field(None, description="Base URL of the bucket as NGINX serves it (e.g. "
                                        "https://media.example.com/videos, deploy/nginx/); unset = presigned URLs "
                                        "and stream tokens on this API.")
    stream_tokens: bool = Field(True, description="Outputs under public_base_url need a stream token in the path "
                                "(NGINX secure_link, README Production); false = a public catalogue.")
    url_lifetime_seconds: float = Field(3600.0, description="Lifetime of presigned output URLs and stream tokens "
                                        "in job documents.")
    stream_secret: SecretStr | None = Field(None, description="Signs stream tokens; else "
                                            "<data_dir>/secrets/stream.key (0600).")
    progress_interval_seconds: float = Field(1.0, description="At most one progress fact per task this often.")

    # --- consumers ----------------------------------------------------------
    fetch_timeout_seconds: float = 5.0
    background_nice: int = Field(10, ge=0, le=19, description="How much the thumbnailer and transcriber lower "
                                 "their CPU priority (nice), so the transcoder's encode, which makes a job "
                                 "playable, gets the cores first; 0 = same priority.")
    worker_concurrency: int = Field(1, ge=1, le=64, description="Tasks one service process runs at once (PRD worker "
                                    "concurrency); every replica adds as many.")
    priority_aging_seconds: float = Field(60.0, ge=0, description="A queued job's priority rises by one every this "
                                          "many seconds it waits, so low priorities are never starved (0: strict).")
    rebind_after_timeouts: int = 12
    retry_delays_seconds: list[float] = Field(default_factory=lambda: [10.0, 30.0, 60.0, 120.0, 300.0],
                                              description="Delay before each redelivery of a transiently failed "
                                              "task (JSON list, s); the last repeats up to max_deliver (PRD FR-4.2).")
    task_stall_seconds: float = Field(120.0, description="A task whose ffmpeg position (or Whisper segment) "
                                      "has not moved this long is killed and retried.")
    task_time_limit_base_seconds: float = Field(600.0, description="Per-task time limit: this plus "
                                                "task_time_limit_factor times the media duration.")
    task_time_limit_factor: float = Field(10.0, description="Seconds of work allowed per second of media, "
                                          "on top of the base.")

    # --- API ----------------------------------------------------------------
    reference_prefixes: list[str] = Field(default_factory=lambda: ["{bucket}/uploads/{owner}/"], description=(
        "bucket/prefix patterns POST /jobs/minio may read (JSON list); {bucket} = the pipeline's bucket, "
        "{owner} = the caller's API key id (the admin key: any). raw/, meta/ and processed/ never."))
    fs_roots: list[Path] = Field(default_factory=list, description="Roots POST /jobs/filesystem may read "
                                 "(JSON list); empty = that route is refused.")
    allow_private_webhooks: bool = Field(False, description="Allow webhook URLs resolving to loopback, "
                                         "private or link-local addresses (SSRF guard off).")

    webhook_allowed_hosts: list[str] = Field(default_factory=list, description="host:port webhook targets "
                                             "allowed even when private (JSON list).")
    webhook_secret: SecretStr | None = Field(None, description="Signs webhooks of jobs without an API key; "
                                             "else <data_dir>/webhook.key (0600).")
    webhook_max_attempts: int = 6
    webhook_backoff_seconds: float = Field(10.0, description="First retry delay; doubles per attempt.")
    webhook_timeout_seconds: float = 10.0

    projector_stall_seconds: float = Field(30.0, description="Health is not OK when facts wait and the "
                                           "projector's checkpoint has not moved this long.")

    log_level: str = "INFO"
    log_format: str = Field("auto", description="`json` (JSON Lines), `text`, or `auto`: text on a terminal, "
                            "JSON otherwise.")

    def _secret(self, value: SecretStr | None, file: str) -> str | None:
        """`value` when set (the environment), else the content of `<data_dir>/<file>`, else None."""
        if value is not None:
            return value.get_secret_value()
        path = self.data_dir / file
        return path.read_text().strip() if path.exists() else None

    def webhook_secret_value(self) -> str | None:
        """`TFLOW_WEBHOOK_SECRET`, else the content of `<data_dir>/webhook.key`, else None."""
        return self._secret(self.webhook_secret, "webhook.key")

    def stream_secret_value(self) -> str | None:
        """`TFLOW_STREAM_SECRET`, else the content of `<data_dir>/secrets/stream.key`, else None."""
        return self._secret(self.stream_secret, "secrets/stream.key")

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

    def task_time_limit(self, media_seconds: float) -> float:
        """The time limit of one task on `media_seconds` of media, in seconds."""
        return self.task_time_limit_base_seconds + self.task_time_limit_factor * max(0.0, media_seconds)

    @property
    def whisper_models_dir(self) -> Path:
        """`models_dir` if set, else `<data_dir>/models`."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def inbox_dir(self) -> Path:
        """The drop folder: `inbox` if set, else `<data_dir>/inbox`."""
        return self.inbox if self.inbox is not None else self.data_dir / "inbox"

    def admin_key_value(self) -> str | None:
        """The admin key: `TFLOW_ADMIN_KEY`, else the content of `<data_dir>/admin.key`, else None."""
        return self._secret(self.admin_key, "admin.key")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
