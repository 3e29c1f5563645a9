"""`tflow smoke URL [KEY]`: prove a deployment works, end to end, in under a minute. A 5 s
clip is generated (`media.synthetic`), uploaded, waited on until completed; its master
playlist is opened by a stream token, a media playlist and a segment fetched; the 360p
MP4 is downloaded by its presigned URL and checked (an MP4 `ftyp`, the size the job
document gives); then the job is deleted with its files and original (`--keep`: kept).
Usable against any deployment: `make run`'s API, NGINX over TLS (`--ca`), compose.
Exit 0 when every step passed, 1 naming the step that failed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import m3u8

from media.run import ffmpeg_binary
from media.synthetic import test_clip_command


class SmokeFailed(RuntimeError):
    """A step of the smoke test failed; the message names it and what was answered."""


def _ok(r: httpx.Response, step: str, *codes: int) -> httpx.Response:
    if r.status_code not in (codes or (200,)):
        raise SmokeFailed(f"{step}: {r.request.method} {r.request.url.path} answered {r.status_code}: {r.text[:300]}")
    return r


def smoke(url: str, key: str, timeout: float = 60.0, keep: bool = False, verify: bool | str = True,
          seconds: float = 5.0) -> tuple[str, dict[str, float]]:
    """Run the steps against the API at `url` with API key `key` (jobs:write, jobs:read);
    `verify`: TLS verification (False, or a CA bundle's path). Returns the job's id and
    each step's seconds (`total` included). Raises `SmokeFailed` naming the step, also
    past `timeout` s."""
    started = time.monotonic()
    took: dict[str, float] = {}

    def mark(step: str) -> None:
        took[step] = round(time.monotonic() - started - sum(took.values()), 2)

    with tempfile.TemporaryDirectory(prefix="tflow-smoke-") as tmp, \
            httpx.Client(base_url=url.rstrip("/"), headers={"X-API-Key": key}, timeout=30, verify=verify) as api:
        clip = Path(tmp) / "tflow-smoke.mp4"
        subprocess.run(test_clip_command(ffmpeg_binary(), clip, seconds), check=True, capture_output=True)
        mark("clip")
        _ok(api.get("/health"), "health", 200)
        with clip.open("rb") as f:
            job = _ok(api.post("/api/v1/jobs/upload", files={"file": (clip.name, f, "video/mp4")}),
                      "upload", 200, 201, 202).json()
        job_id = job["job_id"]
        mark("upload")
        while True:
            doc = _ok(api.get(f"/api/v1/jobs/{job_id}"), "status").json()
            if doc["status"] == "completed":
                break
            if doc["status"] in ("failed", "cancelled"):
                raise SmokeFailed(f"job: {job_id} {doc['status']}: {doc.get('error')}")
            if time.monotonic() - started > timeout:
                raise SmokeFailed(f"job: {job_id} not completed within {timeout:.0f}s (status {doc['status']})")
            time.sleep(0.5)
        mark("completed")
        token = _ok(api.get(f"/api/v1/streaming/token/{job_id}/master"), "stream token").json()
        master = m3u8.loads(_ok(httpx.get(token["playlist_url"], verify=verify), "master playlist").text,
                            uri=token["playlist_url"])
        if not master.playlists:
            raise SmokeFailed("master playlist: it names no variant")
        media = m3u8.loads(_ok(httpx.get(master.playlists[0].absolute_uri, verify=verify), "media playlist").text,
                           uri=master.playlists[0].absolute_uri)
        segment = _ok(httpx.get(media.segments[0].absolute_uri, verify=verify), "segment").content
        if not segment:
            raise SmokeFailed("segment: empty")
        mark("hls")
        link = _ok(api.get(f"/api/v1/jobs/{job_id}/download/360p"), "download URL").json()
        body = _ok(httpx.get(link["download_url"], verify=verify), "download").content
        listed = ((doc.get("outputs") or {}).get("360p") or {}).get("video") or {}
        if body[4:8] != b"ftyp" or listed.get("key") != link["key"] or listed.get("size_bytes") != len(body):
            raise SmokeFailed(f"download: {link['key']} is not the MP4 the job lists ({len(body)} bytes)")
        mark("download")
        if not keep:
            _ok(api.post(f"/api/v1/jobs/{job_id}/delete", params={"delete_files": "true", "delete_original": "true"}),
                "delete")
            mark("delete")
    took["total"] = round(time.monotonic() - started, 2)
    return job_id, took


def cmd_smoke(args: argparse.Namespace) -> int:
    """`tflow smoke URL KEY`: the steps' seconds as JSON, exit 0; or the failed step, exit 1."""
    key = args.key or os.environ.get("TFLOW_SMOKE_KEY") or os.environ.get("TFLOW_ADMIN_KEY")
    if not key:
        print("tflow smoke: no key (give KEY, or set TFLOW_SMOKE_KEY or TFLOW_ADMIN_KEY)", file=sys.stderr)
        return 2
    try:
        job_id, took = smoke(args.url, key, args.timeout, args.keep, args.ca or not args.insecure)
    except (SmokeFailed, httpx.HTTPError, subprocess.CalledProcessError) as e:
        print(f"tflow smoke: FAILED {e}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "job_id": job_id, "kept": args.keep, "seconds": took}))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `smoke` on the `tflow` parser's subcommands."""
    s = sub.add_parser("smoke", help="a generated 5 s clip through a deployment: upload, completed, HLS, download")
    s.add_argument("url", help="the API's base URL (e.g. http://127.0.0.1:8000 or https://host)")
    s.add_argument("key", nargs="?", help="an API key with jobs:write and jobs:read (the admin key works); "
                   "default $TFLOW_SMOKE_KEY, else $TFLOW_ADMIN_KEY (keeps it off the command line)")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds the whole test may take")
    s.add_argument("--keep", action="store_true", help="keep the job (default: deleted with its files)")
    s.add_argument("--ca", help="a CA bundle to verify the server's TLS certificate with")
    s.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    s.set_defaults(fn=cmd_smoke)
