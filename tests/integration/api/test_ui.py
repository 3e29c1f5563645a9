"""The web UI in headless Chromium (Debian's, driven by Playwright, no browser download)
against the session's real stack: sign in, upload a real clip through the page and
watch it reach `completed` without a reload, play it past 5 s with subtitles shown,
seek from a thumbnail and from a transcript line, find it by a spoken word and open
the player at that moment, cancel a running job from the list, see a rejected file's
reason, and the operations page. Screenshots of each page go to bench/results/ui/."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.integration.operations.test_production import CHROMIUM_ARGS
from tests.media import REPO_ROOT, looped_clip, media, speech_clip

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
SHOTS = REPO_ROOT / "bench" / "results" / "ui"
VENDOR = REPO_ROOT / "services" / "api" / "ui" / "vendor" / "hls.min.js"


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (make test installs Debian's when apt-get can run): UI test skipped")
    if not VENDOR.exists():
        pytest.skip(f"{VENDOR} missing: `make web` copies hls.js from npm (make test does)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.set_default_timeout(30_000)
            pg.goto(f"{stack.api_url}/")  # redirects to /ui/
            pg.screenshot(path=str(SHOTS / "signin.png"))
            pg.fill("#key", stack.admin_key)
            pg.click("button[type=submit]")
            pg.wait_for_selector("#jobs")
            pg.evaluate("window.__loadedAt = performance.timeOrigin")
            yield pg
        finally:
            browser.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def current_time(pg) -> float:
    return pg.evaluate("document.querySelector('#player').currentTime")


@pytest.fixture(scope="module")
def uploaded(page, stack: Stack, tmp_path_factory) -> str:
    """A real clip uploaded through the page, followed to `completed` in the live list."""
    clip = speech_clip(tmp_path_factory.mktemp("ui") / "ui speech clip.mkv")
    page.goto(f"{stack.api_url}/ui/#/upload")
    page.set_input_files("#files", str(clip))
    page.fill("#priority", "7")
    page.fill(".mk", "course")
    page.fill(".mv", "ui-test")
    page.click("#send")
    link = page.wait_for_selector("#uploads li a", timeout=60_000)
    shot(page, "upload")
    job_id = link.inner_text()
    page.click("nav a[href='#/jobs']")
    row = f"tr[data-job='{job_id}']"
    page.wait_for_selector(row)
    page.wait_for_function(f"document.querySelector(\"{row} .status\")?.textContent === 'completed'",
                           timeout=240_000, polling=500)
    assert page.evaluate("window.__loadedAt === performance.timeOrigin")  # the same document: no reload
    assert page.inner_text(f"{row} td:nth-child(6)") == "7"
    shot(page, "jobs")
    return job_id


def test_job_page_plays_with_subtitles_and_seeks_from_thumbnails_and_transcript(page, stack: Stack, uploaded: str):
    page.goto(f"{stack.api_url}/ui/#/job/{uploaded}")
    page.wait_for_selector("#transcript button[data-start]", timeout=30_000)
    page.wait_for_function("window.tflowHls && window.tflowHls.levels.length === 2")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 5", timeout=60_000, polling=200)
    page.wait_for_function("""Array.from(document.querySelector('#player').textTracks).some(
        t => t.mode === 'showing' && t.cues && t.cues.length > 0)""", timeout=30_000)
    assert page.eval_on_selector_all("#quality option", "os => os.map(o => o.textContent)") == \
        ["Auto", "360p", "720p"]
    shot(page, "job")
    page.evaluate("document.querySelector('#player').pause()")
    page.click("#thumbs button[data-pct='50']")
    duration = page.evaluate("document.querySelector('#player').duration")
    assert abs(current_time(page) - duration / 2) < 1.0
    first = page.query_selector_all("#transcript button[data-start]")[-1]
    start = float(first.get_attribute("data-start"))
    first.click()
    assert abs(current_time(page) - start) < 0.8
    page.wait_for_selector("#transcript button[aria-current='true']")
    assert page.query_selector_all("#downloads a") and page.query_selector("#timeline li")
    assert "ingested" in page.inner_text("#timeline")


def test_search_finds_a_spoken_word_and_opens_the_player_there(page, stack: Stack, uploaded: str):
    with stack.api() as api:
        transcript = api.get(f"/api/v1/jobs/{uploaded}/transcript").json()
    words = [w for s in transcript["segments"] for w in re.findall(r"[^\W\d_]{4,}", s["text"])]
    assert words, transcript
    page.goto(f"{stack.api_url}/ui/#/search?q={words[-1]}")
    moment = page.wait_for_selector(f"#results a.moment[href^='#/job/{uploaded}?t=']")
    assert words[-1].lower() in page.inner_text("#results").lower()
    shot(page, "search")
    start = float(moment.get_attribute("href").split("t=")[1])
    moment.click()
    page.wait_for_function(f"document.querySelector('#player') && "
                           f"Math.abs(document.querySelector('#player').currentTime - {start}) < 1", timeout=30_000)


def test_cancel_from_the_list_and_a_rejected_files_reason(page, stack: Stack, tmp_path):
    with stack.api() as api, media("valid/bbb_1280x720_30s_vp8_vorbis.webm").open("rb") as f:
        job_id = api.post("/api/v1/jobs/upload", files={"file": ("ui-cancel.webm", f, "video/webm")}).json()["job_id"]
    page.goto(f"{stack.api_url}/ui/#/jobs")
    row = f"tr[data-job='{job_id}']"
    page.wait_for_selector(f"{row} button.cancel").click()
    page.wait_for_function(f"document.querySelector(\"{row} .status\")?.textContent === 'cancelled'",
                           timeout=30_000, polling=300)
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are my notes, not a video\n" * 50)
    page.goto(f"{stack.api_url}/ui/#/upload")
    page.set_input_files("#files", str(bad))
    page.click("#send")
    page.wait_for_selector("#uploads li[data-file='notes.mp4'] .note:not(:text(' waiting…'))")
    note = page.inner_text("#uploads li[data-file='notes.mp4'] .note")
    if page.query_selector("#uploads li[data-file='notes.mp4'] a"):  # accepted, then refused by ingest
        rejected = page.inner_text("#uploads li[data-file='notes.mp4'] a")
        page.click("nav a[href='#/jobs']")
        reason = page.wait_for_selector(f"tr[data-job='{rejected}'] .reason", timeout=60_000).inner_text()
    else:
        reason = note
    assert re.search(r"invalid|not a video|unsupported|no video|corrupt|probe|unreadable", reason, re.I), reason
    shot(page, "rejected")


def test_a_job_plays_with_hls_js_before_it_is_completed(page, stack: Stack, tmp_path):
    """Progressive HLS in the browser: a 45 s job's page plays it with hls.js (past 2 s of
    media) while the API still says `processing`; then the job is cancelled (its encode
    would only slow the tests after this one)."""
    clip = looped_clip(tmp_path / "progressive.webm", 45)
    with stack.api() as api, clip.open("rb") as f:
        job_id = api.post("/api/v1/jobs/upload", files={"file": ("progressive.webm", f, "video/webm")}).json()["job_id"]
        deadline = time.monotonic() + 30
        while api.get(f"/api/v1/jobs/{job_id}").status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.1)  # the read model has not folded the upload yet
        page.goto(f"{stack.api_url}/ui/#/job/{job_id}")
        page.wait_for_function("document.querySelector('#player')?.currentTime > 2", timeout=90_000, polling=200)
        status = api.get(f"/api/v1/jobs/{job_id}").json()["status"]
        levels = page.evaluate("window.tflowHls.levels.map((l) => l.height)")
        api.post(f"/api/v1/jobs/{job_id}/cancel")
    shot(page, "progressive")
    assert status == "processing", f"the job was {status} when it played: not progressive"
    assert 360 in levels


def test_operations_page_shows_components_consumers_and_keys(page, stack: Stack):
    page.goto(f"{stack.api_url}/ui/#/ops")
    page.wait_for_selector("#components td")
    assert "db" in page.inner_text("#components") and "transcoder" in page.inner_text("#consumers")
    page.fill("#key-name", "made-in-the-ui")
    page.click("text=Create key")
    page.wait_for_function("document.querySelector('#new-key').textContent.includes('shown once')")
    page.wait_for_selector("#keys td:text('made-in-the-ui')")
    shot(page, "ops")


def test_ui_files_carry_no_third_party_code_from_a_cdn():
    ui = Path(REPO_ROOT / "services" / "api" / "ui")
    for f in ui.glob("*.*"):
        assert not re.search(r"https?://(?!www\.w3\.org)", f.read_text()), f"{f.name} loads something remote"
