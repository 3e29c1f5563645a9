"""Pure parts of the production deployment: stream tokens as NGINX's secure_link computes
them, template rendering, playlist cache headers, URL shapes, metrics from facts, JSON logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from contracts import OutputInfo, TaskCompleted, TaskFailed
from intake import streamtoken
from runtime.observability.logs import JsonFormatter, log_context
from runtime.observability.metrics import observe_fact, output_label
from runtime.settings import Settings
from runtime.storage.store import FINAL_PLAYLIST_CACHE, cache_control_for
from tests.support.deploy import DEPLOY, MissingVariable, render_template

JOB = "1f491943-a612-582f-be4b-1c42aa5d48f8"


def test_token_signature_is_nginx_secure_link_md5():
    # echo -n "2147483647 <job> s3cret" | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =
    assert streamtoken.signature("s3cret", JOB, 2147483647) == "yGtiTEZM2Z9Ik71OXiLepg"
    token, expires = streamtoken.make("s3cret", JOB, 60, now=1000)
    assert token == f"1060.{streamtoken.signature('s3cret', JOB, 1060)}" and expires == 1060
    assert streamtoken.check("s3cret", JOB, token, now=1059) == 1060
    for bad, why in ((token, "expired"), (token.replace("1060.", "1061."), "does not open"), ("x.y", "malformed")):
        with pytest.raises(streamtoken.TokenRefused, match=why):
            streamtoken.check("s3cret", JOB, bad, now=1061 if why == "expired" else 1000)
    with pytest.raises(streamtoken.TokenRefused, match="does not open"):
        streamtoken.check("s3cret", "2f491943-a612-582f-be4b-1c42aa5d48f8", token, now=1000)


def test_template_replaces_only_given_variables():
    out = render_template("listen ${TFLOW_X}; set $a $uri; ${HOME_NOT_OURS}", {"TFLOW_X": "127.0.0.1:80"})
    assert out == "listen 127.0.0.1:80; set $a $uri; ${HOME_NOT_OURS}"
    with pytest.raises(MissingVariable, match="TFLOW_Y"):
        render_template("${TFLOW_Y}", {})
    conf = (DEPLOY / "nginx" / "templates" / "transcode-flow.conf.template").read_text()
    names = {"TFLOW_NGINX_LISTEN", "TFLOW_API_UPSTREAM", "TFLOW_S3_UPSTREAM", "TFLOW_BUCKET", "TFLOW_STREAM_SECRET",
             "TFLOW_STREAM_TOKENS", "TFLOW_NGINX_TLS_LISTEN", "TFLOW_TLS_CERT", "TFLOW_TLS_KEY", "TFLOW_HTTPS_PORT_SUFFIX"}
    rendered = render_template(conf, dict.fromkeys(names, "v"))
    assert "${" not in rendered and "secure_link_md5 \"$tf_expires $tf_job v\"" in rendered
    assert "listen v ssl http2;" in rendered and "return 301 https://$hostv$request_uri;" in rendered


def test_finished_playlists_are_cached_long():
    assert cache_control_for("processed/j/360p/segments/playlist.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n") \
        == FINAL_PLAYLIST_CACHE
    assert cache_control_for("processed/j/360p/segments/playlist.m3u8", b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n") \
        is None
    assert cache_control_for("processed/j/360p/segments/segment_000.ts", b"#EXT-X-ENDLIST") is None


def test_public_urls_carry_the_token_inside_the_job_prefix():
    s = Settings(_env_file=None, outputs={"public_base_url": "https://media.example.com/videos/"})
    key = f"processed/{JOB}/360p/segments/playlist.m3u8"
    assert s.outputs.public_url(key) == f"https://media.example.com/videos/{key}"
    assert s.outputs.public_url(key, "1060.abc") == \
        f"https://media.example.com/videos/processed/{JOB}/1060.abc/360p/segments/playlist.m3u8"
    assert Settings(_env_file=None).outputs.public_url(key) is None


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_facts_feed_the_prd_metrics():
    assert (output_label("video_720p"), output_label("hls_720p"), output_label("audio")) == \
        ("720p", "hls_720p", "audio")
    before_bytes = _sample("transcode_output_bytes_total", {"resolution": "720p"})
    before_ffmpeg = _sample("transcode_ffmpeg_seconds_total", {"service": "transcoder"})
    before_count = _sample("transcode_jobs_duration_seconds_count", {"resolution": "720p"})
    at = datetime.now(UTC)
    observe_fact("transcoder", TaskCompleted(job_id=JOB, at=at, task="video_720p", seconds=2.5,
                                             outputs=[OutputInfo(key="k", size_bytes=1000, kind="video")]))
    assert _sample("transcode_output_bytes_total", {"resolution": "720p"}) == before_bytes + 1000
    assert _sample("transcode_ffmpeg_seconds_total", {"service": "transcoder"}) == before_ffmpeg + 2.5
    observe_fact("finalizer", TaskCompleted(job_id=JOB, at=at, task="metadata", seconds=0.5))
    assert _sample("transcode_ffmpeg_seconds_total", {"service": "finalizer"}) == 0.0  # it runs no ffmpeg
    assert _sample("transcode_jobs_duration_seconds_count", {"resolution": "720p"}) == before_count + 1
    errors = {"service": "transcoder", "kind": "task_failed_permanent"}
    before_errors = _sample("transcode_errors_total", errors)
    observe_fact("transcoder", TaskFailed(job_id=JOB, at=at, task="video_720p", code="x", message="m", permanent=True))
    assert _sample("transcode_errors_total", errors) == before_errors + 1


def test_json_log_lines_carry_the_job_and_redact():
    fmt = JsonFormatter("transcoder")
    record = logging.LogRecord("runtime.worker.handler", logging.WARNING, __file__, 1, "retrying ?api_key=%s\nnext",
                               ("tf_abcdefghijklmnopqrstuvwxyz",), None)
    with log_context(job_id=JOB, attempt=2), log_context(task="video_360p"):
        line = fmt.format(record)
    doc = json.loads(line)
    assert "\n" not in line and doc["service"] == "transcoder" and doc["level"] == "WARNING"
    assert (doc["job_id"], doc["task"], doc["attempt"]) == (JOB, "video_360p", 2)
    assert "tf_abcdefghij" not in doc["message"] and "api_key=[redacted]" in doc["message"]
    assert "job_id" not in json.loads(fmt.format(record))  # outside the block: no job
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(fmt.format(record))["exc"]
