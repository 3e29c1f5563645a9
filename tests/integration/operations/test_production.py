"""The production topology, natively (production_stack.py): a real clip PUT into MinIO
becomes a completed job through MinIO's NATS notification; NGINX serves it under stream
tokens (403 without, 206 for ranges, the MIME types and cache rules of deploy/nginx/);
headless Chromium plays it with hls.js (both renditions, the subtitle track and its
cues); every Grafana panel's PromQL returns series from the live Prometheus, whose rules
load; and a backup, wipe and restore brings back the same jobs, still playable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import m3u8
import pytest

from contracts import job_id_for, layout
from intake import streamtoken
from ops.recovery.backup import take
from ops.recovery.restore import restore
from runtime.jetstream.connection import connect
from runtime.storage import store
from tests.media import REPO_ROOT, speech_clip
from tests.support.deploy import DEPLOY
from tests.support.operator import without_urls
from tests.support.production_stack import Production, need, production, wait_job

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
HLS_JS = REPO_ROOT / "web" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    with production(tmp_path_factory.mktemp("production")) as p:
        yield p


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 720p picture with real dialogue: both renditions and subtitles."""
    return speech_clip(tmp_path_factory.mktemp("clip") / "bbb_720p_speech.mkv")


@pytest.fixture(scope="module")
def job(prod: Production, clip: Path) -> dict:
    """The clip PUT into MinIO's raw/ (the notification makes the job), completed."""
    ref = store.upload_file(prod.client, prod.settings.s3.bucket, "raw/production/bbb speech.mkv", clip)
    doc = wait_job(prod, job_id_for(ref))
    assert doc["status"] == "completed", doc
    return doc


def _token(prod: Production, job_id: str, resolution: str = "master") -> dict:
    with prod.api() as api:
        r = api.get(f"/api/streaming/token/{job_id}/{resolution}")
    assert r.status_code == 200, r.text
    return r.json()


def test_nginx_serves_outputs_under_stream_tokens_only(prod: Production, job: dict):
    jid = job["job_id"]
    tok = _token(prod, jid)
    base = f"{prod.nginx_url}/videos/processed/{jid}/"
    assert tok["playlist_url"] == f"{base}{tok['token']}/master.m3u8"
    r = httpx.get(tok["playlist_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["cache-control"] == store.FINAL_PLAYLIST_CACHE  # the finished job's master
    master = m3u8.loads(r.text, uri=tok["playlist_url"])
    assert sorted(p.stream_info.resolution for p in master.playlists) == [(640, 360), (1280, 720)]
    assert [m.type for m in master.media] == ["SUBTITLES"]
    media_url = master.playlists[0].absolute_uri
    media_pl = httpx.get(media_url)
    assert media_pl.status_code == 200 and "#EXT-X-ENDLIST" in media_pl.text
    assert media_pl.headers["cache-control"] == store.FINAL_PLAYLIST_CACHE
    segment_url = m3u8.loads(media_pl.text, uri=media_url).segments[0].absolute_uri
    seg = httpx.get(segment_url)
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t"
    assert seg.headers["cache-control"] == "public, max-age=31536000, immutable"
    part = httpx.get(segment_url, headers={"Range": "bytes=0-187"})
    assert part.status_code == 206 and part.content == seg.content[:188]
    assert part.headers["content-range"] == f"bytes 0-187/{len(seg.content)}"
    subs = httpx.get(master.media[0].absolute_uri)
    vtt_url = m3u8.loads(subs.text, uri=master.media[0].absolute_uri).segments[0].absolute_uri
    vtt = httpx.get(vtt_url)
    assert vtt.status_code == 200 and vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.text.startswith("WEBVTT")
    for rel, kind in (("720p/video_720p.mp4", "video/mp4"), ("audio/audio.mp3", "audio/mpeg"),
                      ("thumbnails/thumb_50.jpg", "image/jpeg")):
        assert httpx.head(f"{base}{tok['token']}/{rel}").headers["content-type"] == kind, rel
    preflight = httpx.options(tok["playlist_url"], headers={"Origin": "http://player.example",
                                                            "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]
    # refused: no token, an expired one, a forged one, another job's, the originals, a listing
    secret = prod.settings.stream_secret_value() or ""
    expired, _ = streamtoken.make(secret, jid, -60)
    other, _ = streamtoken.make(secret, "00000000-0000-5000-8000-000000000000", 600)
    forged = tok["token"].split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    for url in (f"{base}master.m3u8", f"{base}{expired}/master.m3u8", f"{base}{other}/master.m3u8",
                f"{base}{forged}/master.m3u8", f"{base}{tok['token']}/../../raw/production/x.mkv",
                f"{prod.nginx_url}/videos/raw/production/bbb%20speech.mkv", f"{prod.nginx_url}/videos/"):
        assert httpx.get(url).status_code in (403, 400), url
    assert httpx.get(f"{base}{tok['token']}/nothing.ts").status_code == 404
    # presigned downloads still work, and the API answers through the same origin
    with prod.api() as api:
        dl = api.get(f"/api/v1/jobs/{jid}/download/720p")
        assert dl.status_code == 200 and dl.json()["download_url"].startswith(f"{prod.nginx_url}/videos/processed/")
        got = httpx.get(dl.json()["download_url"], headers={"Range": "bytes=0-1023"})
        assert got.status_code == 206 and len(got.content) == 1024 and got.content[4:8] == b"ftyp"
        tampered = dl.json()["download_url"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
        assert httpx.get(tampered).status_code == 403  # MinIO checks the signature
        events = api.get(f"/api/v1/jobs/{jid}/events")
        assert events.headers["content-type"].startswith("text/event-stream") and "event: complete" in events.text
    assert httpx.get(f"{prod.nginx_url}/health").json()["status"] in ("healthy", "degraded")


def test_uploads_stream_through_nginx_and_logs_are_json_lines(prod: Production, job: dict, tmp_path):
    body = tmp_path / "upload.mp4"
    body.write_bytes(b"\0" * (4 << 20))  # 4 MiB: NGINX would spool it to a temp file if it buffered bodies
    with prod.api() as api, body.open("rb") as f:
        r = api.post("/api/upload", files={"file": ("upload.mp4", f, "video/mp4")})
    assert r.status_code in (202, 422), r.text
    error_log = (prod.root / "nginx" / "error.log").read_text()
    assert "buffered to a temporary file" not in error_log, error_log[-2000:]
    records = [json.loads(line) for line in (prod.root / "logs" / "transcoder.log").read_text().splitlines()
               if line.startswith("{")]
    assert records and all({"ts", "level", "service", "logger", "message"} <= set(r) for r in records)
    mine = [r for r in records if r.get("job_id") == job["job_id"]]
    assert mine and all(r["service"] == "transcoder" and r["attempt"] >= 1 for r in mine), records[-5:]
    assert any(str(r.get("task", "")).startswith("video_") for r in mine)


PLAY = """async ({url, hlsJs}) => {
  const video = document.querySelector('video');
  const hls = new Hls({enableWebVTT: true, renderTextTracksNatively: true});
  const levels = new Set();
  hls.on(Hls.Events.FRAG_LOADED, (_, d) => { if (d.frag.type === 'main') levels.add(d.frag.level); });
  hls.loadSource(url);
  hls.attachMedia(video);
  await new Promise((ok, ko) => {
    hls.on(Hls.Events.MANIFEST_PARSED, ok);
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) ko(new Error(d.type + ' ' + d.details)); });
  });
  hls.currentLevel = 0;
  await video.play();
  const until = (test, ms, what) => new Promise((ok, ko) => {
    const t0 = Date.now();
    const tick = () => test() ? ok() : Date.now() - t0 > ms ? ko(new Error('timeout: ' + what)) : setTimeout(tick, 100);
    tick();
  });
  await until(() => video.currentTime > 2 && levels.has(0), 30000, 'level 0 playing');
  hls.currentLevel = hls.levels.length - 1;  // force the switch to the other rendition
  await until(() => levels.has(hls.levels.length - 1) && video.currentTime > 5, 30000, 'switched level past 5 s');
  hls.subtitleTrack = 0;
  const track = () => Array.from(video.textTracks).find(t => t.kind === 'subtitles' || t.kind === 'captions');
  await until(() => track() !== undefined, 10000, 'subtitle text track');
  track().mode = 'showing';
  await until(() => track().cues && track().cues.length > 0, 20000, 'subtitle cues');
  return {currentTime: video.currentTime, levels: Array.from(levels).sort(),
          heights: hls.levels.map(l => l.height), subtitleTracks: hls.subtitleTracks.map(t => t.lang),
          cues: Array.from(track().cues).map(c => c.text)};
}"""


def test_the_edge_is_https_only_with_http2_hsts_and_a_redirect_from_http(prod: Production, job: dict):
    """Issue 28, PRD §8.3: plain HTTP answers only a 301 to the same path over HTTPS; HTTPS
    negotiates HTTP/2 (ALPN) with `tflow bootstrap`'s self-signed pair and sends HSTS, on
    the API's answers and on the outputs alike."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    r = httpx.get(f"{prod.http_url}/api/v1/jobs?limit=1", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"{prod.nginx_url}/api/v1/jobs?limit=1", r.headers
    assert httpx.get(f"{prod.http_url}/health", follow_redirects=True).json()["status"] in ("healthy", "degraded")
    host = urlsplit(prod.nginx_url)
    ctx = ssl.create_default_context(cafile=str(prod.certificate))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((host.hostname, host.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host.hostname) as tls:
        assert tls.selected_alpn_protocol() == "h2" and tls.version() in ("TLSv1.2", "TLSv1.3")
    with prod.api() as api:
        assert api.get("/health").headers["strict-transport-security"] == "max-age=31536000"
    seg = httpx.get(_token(prod, job["job_id"])["playlist_url"])
    assert seg.status_code == 200 and seg.headers["strict-transport-security"] == "max-age=31536000"
    import certifi
    with pytest.raises(httpx.ConnectError):  # a client trusting the public CAs only refuses the pair
        httpx.get(f"{prod.nginx_url}/health", verify=ssl.create_default_context(cafile=certifi.where()))


def test_master_playlist_plays_through_nginx_in_chromium(prod: Production, job: dict):
    chromium = need("chromium")
    if not HLS_JS.exists():
        pytest.skip(f"{HLS_JS} missing: `make web` installs hls.js from npm (make test does)")
    from playwright.sync_api import sync_playwright

    tok = _token(prod, job["job_id"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS + prod.chromium_args)
        try:
            page = browser.new_page()
            page.set_content("<!doctype html><title>player</title><video muted playsinline width=640></video>")
            page.add_script_tag(path=str(HLS_JS))
            result = page.evaluate(PLAY, {"url": tok["playlist_url"], "hlsJs": str(HLS_JS)})
            page.screenshot(path=str(prod.root / "player.png"))
        finally:
            browser.close()
    print(f"played: {result}")
    assert result["currentTime"] > 5 and result["levels"] == [0, 1] and sorted(result["heights"]) == [360, 720]
    # the language is what Whisper detected on the dialogue (the master lists it as the track)
    assert len(result["subtitleTracks"]) == 1 and any(c.strip() for c in result["cues"])


def _prometheus(prod: Production, path: str, **params: str) -> dict:
    r = httpx.get(f"{prod.prometheus_url}/api/v1/{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_every_dashboard_panel_has_series_and_rules_load(prod: Production, job: dict, tmp_path):
    # what some panels count: a rejected source, a refused request
    bad = tmp_path / "not a video.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    store.upload_file(prod.client, prod.settings.s3.bucket, "raw/production/not a video.mp4", bad)
    assert httpx.get(f"{prod.nginx_url}/api/v1/jobs").status_code == 401
    queries = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            queries += [(path.stem, panel["title"], t["expr"]) for t in panel["targets"]]
    assert len(queries) >= 40
    missing: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + 90
    pending = list(queries)
    while pending and time.monotonic() < deadline:
        missing = [q for q in pending if not _prometheus(prod, "query", query=q[2])["result"]]
        pending = missing
        if pending:
            time.sleep(2)
    assert not missing, f"panels without series: {missing}"
    groups = _prometheus(prod, "rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {g["name"] for g in groups} == {"prd-names", "transcode-flow"} and len(rules) >= 20
    assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]
    targets = _prometheus(prod, "targets")["activeTargets"]
    assert {t["labels"].get("service") for t in targets} >= {"api", "projector", "ingest", "transcoder", "finalizer",
                                                              "thumbnailer", "transcriber", "notifier"}
    assert all(t["health"] == "up" for t in targets), [(t["scrapeUrl"], t["lastError"]) for t in targets
                                                       if t["health"] != "up"]


def _hls_plays(prod: Production, job_id: str) -> None:
    tok = _token(prod, job_id)
    master = m3u8.loads(httpx.get(tok["playlist_url"]).text, uri=tok["playlist_url"])
    for variant in master.playlists:
        pl = m3u8.loads(httpx.get(variant.absolute_uri).text, uri=variant.absolute_uri)
        seg = httpx.get(pl.segments[-1].absolute_uri)
        assert seg.status_code == 200 and seg.content[:1] == b"G"  # an MPEG-TS sync byte


async def _wipe(prod: Production) -> None:
    """Everything a restore must bring back, gone: streams, tables, objects."""
    import asyncpg

    nc = await connect(prod.settings, "wipe")
    try:
        js = nc.jetstream()
        for name in ("JOBS", "MINIO", "DLQ"):
            await js.delete_stream(name)
    finally:
        await nc.close()
    conn = await asyncpg.connect(prod.settings.database.url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    for ref in list(store.list_objects(prod.client, prod.settings.s3.bucket, "")):
        prod.client.remove_object(prod.settings.s3.bucket, ref.key)


def test_backup_wipe_restore_brings_back_the_same_playable_jobs(prod: Production, job: dict, tmp_path):
    with prod.api() as api:
        before = api.get("/api/v1/jobs", params={"limit": 100}).json()
        key = api.post("/api/v1/admin/api-keys", json={"name": "survives-restore", "scopes": ["jobs:read"]}).json()
    objects = list(store.list_objects(prod.client, prod.settings.s3.bucket, ""))
    folder = tmp_path / "backup"
    started = time.monotonic()
    manifest = take(prod.settings, folder, client=prod.client)
    backup_seconds = time.monotonic() - started
    counts: dict = manifest["objects"]  # type: ignore[assignment]
    assert counts["objects"] == counts["copied"] == len(objects) > 10 and counts["bytes"] == sum(o.size for o in objects)
    snapshot = folder / "snapshots" / str(manifest["id"])
    assert (snapshot / "postgres.dump").stat().st_size > 0
    assert sorted(p.name for p in (snapshot / "jetstream").iterdir()) == ["DLQ", "JOBS", "MINIO"]
    prod.sup.stop(5)
    asyncio.run(_wipe(prod))
    started = time.monotonic()
    restore(prod.settings, folder, client=prod.client)
    restore_seconds = time.monotonic() - started
    prod.sup.start()
    print(f"backup {backup_seconds:.1f}s, restore {restore_seconds:.1f}s: {counts['objects']} objects, "
          f"{counts['bytes']} bytes")
    deadline = time.monotonic() + 60
    after: dict = {}
    with prod.api() as api:
        while time.monotonic() < deadline:
            r = api.get("/api/v1/jobs", params={"limit": 100})
            if r.status_code == 200:
                after = r.json()
                break
            time.sleep(0.5)
        time.sleep(3)  # the notifications of the restored originals must not add jobs or states
        after = api.get("/api/v1/jobs", params={"limit": 100}).json()
        assert [(j["job_id"], j["status"]) for j in after["jobs"]] == \
            [(j["job_id"], j["status"]) for j in before["jobs"]]
        assert without_urls(api.get(f"/api/v1/jobs/{job['job_id']}").json()["outputs"]) == \
            without_urls(job["outputs"])  # the same outputs (each document signs new URLs)
        assert httpx.get(f"{prod.nginx_url}/api/v1/jobs", headers={"X-API-Key": key["api_key"]}).status_code == 200
    _hls_plays(prod, job["job_id"])
    assert store.stat(prod.client, prod.settings.s3.bucket, layout.master_key(job["job_id"])) is not None


def test_alerts_reach_the_webhook_when_a_worker_or_nats_stops_and_when_they_are_back(prod: Production):
    """Issue 28: Alertmanager delivers every alert, and its resolution, to the receiver.
    A worker stopped (SIGSTOP: it answers no scrape) fires WorkerDown; NATS stopped fires
    NatsDown. The rules' `for` is cut to 2 s here (`quick_rules`); the latency measured is
    the rest: scrapes (2 s), rule evaluation, Alertmanager's group wait (1 s), delivery."""
    import os
    import signal

    assert prod.alerts is not None and prod.servers is not None
    figures = {}
    for name, proc, alert, labels in (
            ("thumbnailer", prod.sup.procs["thumbnailer"], "WorkerDown", {"service": "thumbnailer"}),
            ("nats", prod.servers.procs["nats"], "NatsDown", {"dependency": "nats"})):  # type: ignore[attr-defined]
        stopped = time.monotonic()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            deadline = stopped + 90
            while not prod.alerts.alerts(alert, "firing", stopped, **labels):
                assert time.monotonic() < deadline, f"{alert} did not reach the receiver: {prod.alerts.received[-3:]}"
                time.sleep(0.2)
            fired = prod.alerts.alerts(alert, "firing", stopped, **labels)[0] - stopped
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        resumed = time.monotonic()
        while not prod.alerts.alerts(alert, "resolved", resumed, **labels):
            assert time.monotonic() < resumed + 120, f"{alert} was not resolved"
            time.sleep(0.2)
        figures[name] = {"alert": alert, "fired_after_s": round(fired, 2),
                         "resolved_after_s": round(prod.alerts.alerts(alert, "resolved", resumed, **labels)[0]
                                                   - resumed, 2)}
    print("\nalert latency:", json.dumps(figures))
    results = REPO_ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"alerts-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(figures, indent=2) + "\n")
