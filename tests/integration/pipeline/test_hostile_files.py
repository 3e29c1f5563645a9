"""A corpus of hostile files, generated here from the real media (reliability issue: no
committed media). Each is dropped into the inbox and ends with a precise reason (or is
accepted, for hostile names of good files), the original kept byte for byte, no service
crashed or stalled, and nothing leaked: no input may make ffmpeg or PyAV open another
file or URL (`/etc/passwd` never appears in a note or a log). Its own small stack."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from media.run import ffmpeg_binary
from tests.integration.conftest import started_stack
from tests.media import media

pytestmark = pytest.mark.integration
MP4 = "valid/friday_640x480_speech_h264_aac.mp4"
FLV = "valid/h264_1080x720_aac.flv"
SECRET_LINE = "root:x:0:0"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    with started_stack(tmp_path_factory.mktemp("hostile"), ("projector", "ingest", "api"),
                       extra_env={"TFLOW_INBOX_VERDICT_TIMEOUT_SECONDS": "60"}) as s:
        yield s


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _atoms(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the top-level ISO BMFF boxes."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        size = len(data) - pos if size == 0 else size
        out.append((kind, pos, size))
        pos += max(size, 8)
    return out


def corpus(tmp: Path, api_port: int) -> dict[str, tuple[bytes, set[str]]]:
    """name -> (content, the reason codes that may end it; `done` = accepted)."""
    mp4 = media(MP4).read_bytes()
    flv = media(FLV).read_bytes()
    faststart = tmp / "faststart.mp4"
    _ffmpeg("-i", str(media(MP4)), "-c", "copy", "-movflags", "+faststart", str(faststart))
    fs = faststart.read_bytes()
    moov = next((o, s) for k, o, s in _atoms(fs) if k == b"moov")
    mdat = next((o, s) for k, o, s in _atoms(mp4) if k == b"mdat")
    huge_mdat = bytearray(mp4)
    huge_mdat[mdat[0]:mdat[0] + 4] = struct.pack(">I", 0xFFFFFF00)
    long_mvhd = bytearray(mp4)  # every duration field (movie, tracks, media) says ~50 days
    for box, offset in ((b"mvhd", 20), (b"tkhd", 24), (b"mdhd", 20)):  # version 0 layouts (ISO 14496-12)
        at = long_mvhd.find(box)
        while at != -1:
            long_mvhd[at + offset:at + offset + 4] = struct.pack(">I", 0xFFFFFFF0)
            at = long_mvhd.find(box, at + 4)
    mkv = tmp / "clip.mkv"
    _ffmpeg("-i", str(media(MP4)), "-c", "copy", str(mkv))
    absurd_mkv = bytearray(mkv.read_bytes())
    at = absurd_mkv.find(b"\x44\x89\x88")  # EBML Duration, an 8-byte float of milliseconds
    absurd_mkv[at + 3:at + 11] = struct.pack(">d", 1e11)
    absurd_mkv = bytes(absurd_mkv)
    audio = tmp / "audio.m4a"
    _ffmpeg("-i", str(media(MP4)), "-vn", "-c:a", "copy", str(audio))
    png = tmp / "still.png"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=1280x720", "-frames:v", "1", str(png))
    jpg = tmp / "still.jpg"
    _ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=1280x720", "-frames:v", "1", str(jpg))
    local_clip = str(media(MP4).resolve())
    hls = lambda uri: (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{uri}\n#EXT-X-ENDLIST\n").encode()  # noqa: E731
    unreadable = {"unreadable", "unsupported_container"}
    return {
        "empty.mp4": (b"", {"empty_file"}),
        "random-bytes.mp4": (os.urandom(65536), unreadable),
        "text.mp4": (b"this is not a video\n" * 50, unreadable),
        "nul-bytes.mkv": (b"\0" * 10000, unreadable),
        "cut-at-10pct.mp4": (mp4[:len(mp4) // 10], unreadable | {"truncated", "corrupt"}),
        "cut-at-50pct.mp4": (mp4[:len(mp4) // 2], unreadable | {"truncated", "corrupt"}),
        "cut-at-90pct.mp4": (mp4[:len(mp4) * 9 // 10], {"truncated", "corrupt", "unreadable"}),
        "cut-at-99pct.mp4": (mp4[:len(mp4) * 99 // 100], {"truncated", "corrupt", "unreadable"}),
        "faststart-cut-at-95pct.mp4": (fs[:len(fs) * 95 // 100], {"truncated", "corrupt"}),
        "moov-without-mdat.mp4": (fs[:moov[0] + moov[1]], {"truncated", "corrupt", "unreadable", "unknown_duration"}),
        "flv-cut-in-half.flv": (flv[:len(flv) // 2], {"truncated", "corrupt", "too_short", "unreadable"}),
        # the demuxer reads samples where the index says, not by mdat's size: every sample is
        # there and decodes, so this one may be accepted, and is
        "absurd-mdat-size.mp4": (bytes(huge_mdat), {"done"}),
        # FFmpeg derives an MP4's durations from its sample tables, not from these headers
        "absurd-header-durations.mp4": (bytes(long_mvhd), {"done"}),
        # Matroska's Segment duration is believed: ~3 years, far beyond the 24 h limit
        "absurd-duration.mkv": (absurd_mkv, {"too_long", "truncated"}),
        "audio-only.mp4": (audio.read_bytes(), {"no_video_stream"}),
        "image-only.mp4": (png.read_bytes(), {"unsupported_container", "unreadable"}),
        "jpeg-as-video.mkv": (jpg.read_bytes(), {"unsupported_container", "unreadable"}),
        "hls-to-passwd.mp4": (hls("file:///etc/passwd"), unreadable),
        "hls-to-loopback.mp4": (hls(f"http://127.0.0.1:{api_port}/health"), unreadable),
        "hls-to-local-clip.avi": (hls(local_clip), unreadable),
        "ffconcat-passwd.mp4": (b"ffconcat version 1.0\nfile '/etc/passwd'\n", unreadable),
        "ffconcat-clip.mkv": (f"ffconcat version 1.0\nfile '{local_clip}'\n".encode(), unreadable),
        "sdp-loopback.mp4": (b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\n"
                             b"m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n", unreadable),
        "name with spaces.flv": (flv, {"done"}),
        "vidéo ✓ 日本語.flv": (flv, {"done"}),
        "-rf --help.flv": (flv, {"done"}),
        "n" * 251 + ".flv": (flv, {"done"}),
        "new\nline.flv": (flv, {"invalid_name"}),
        "back\\slash.flv": (flv, {"invalid_name"}),
        "esc\x1b[31mred.flv": (flv, {"invalid_name"}),
        "ends-with-dot..flv": (flv, {"done"}),
    }


def note_of(stack, name: str) -> str:
    for cand in (stack.inbox / "failed" / f"{name}.error.txt",):
        if cand.exists():
            return cand.read_text()
    return ""


def test_every_hostile_file_ends_with_its_reason_and_is_kept(hostile, tmp_path):
    stack = hostile
    files = corpus(tmp_path, stack.settings.api.port)
    assert len(files) >= 30
    for name, (content, _) in files.items():
        (stack.inbox / name).write_bytes(content)
    outcome = {}
    for name, (content, allowed) in files.items():
        folder = stack.wait_filed(name, 120)
        kept = (stack.inbox / folder / name).read_bytes()
        assert kept == content, f"{name!r}: the original was not kept byte for byte"
        code = "done" if folder == "done" else note_of(stack, name).split(":", 1)[0]
        outcome[name] = code
        assert code in allowed, (name, code, note_of(stack, name)[:300])
    # a valid clip still goes through: nothing stalled, ingest never restarted
    stack.drop(media(FLV), "after-the-corpus.flv")
    assert stack.wait_filed("after-the-corpus.flv", 60) == "done"
    assert "ingest" not in stack.sup.restarts
    for log in [*stack.logs.glob("*.log"), *(stack.inbox / "failed").glob("*.error.txt")]:
        text = log.read_text(errors="replace")
        assert SECRET_LINE not in text, f"{log.name} leaked /etc/passwd"
        assert "Traceback" not in text, (log.name, text[-1500:])
    print("\nhostile corpus:", "\n".join(f"  {n!r}: {c}" for n, c in outcome.items()))


def test_symlinks_and_folders_in_the_inbox_are_never_followed(hostile):
    stack = hostile
    link = stack.inbox / "link-to-passwd.mp4"
    link.symlink_to("/etc/passwd")
    (stack.inbox / "a-folder.mp4").mkdir()
    assert stack.wait_filed("link-to-passwd.mp4", 60) == "failed"
    assert (stack.inbox / "failed" / "link-to-passwd.mp4").is_symlink()  # kept, as it was
    assert SECRET_LINE not in note_of(stack, "link-to-passwd.mp4")
    assert (stack.inbox / "a-folder.mp4").is_dir()  # left alone


def test_a_hard_link_in_the_inbox_is_refused_like_a_symlink(hostile):
    """Issue 27: a hard link to a 0600 file elsewhere stored that file's content."""
    stack = hostile
    private = stack.logs.parent / "private.flv"
    private.write_bytes(media(FLV).read_bytes())  # a valid video: only the link makes it refused
    private.chmod(0o600)
    os.link(private, stack.inbox / "hard-link.flv")
    assert stack.wait_filed("hard-link.flv", 60) == "failed"
    note = note_of(stack, "hard-link.flv")
    assert "hard link" in note, note
    names = {o.object_name for o in stack.client().list_objects(stack.settings.s3.bucket, prefix="raw/",
                                                                   recursive=True)}
    assert not any("hard-link" in n for n in names), "the linked file was stored"
    assert private.read_bytes() == media(FLV).read_bytes()


def test_the_same_name_twice_and_the_same_file_twice(hostile):
    stack = hostile
    stack.drop(media(FLV), "twice.flv")
    assert stack.wait_filed("twice.flv") == "done"
    stack.drop(media("valid/mpeg4asp_960x400_mp3.avi"), "twice.flv")  # other content, same name
    deadline = time.monotonic() + 60
    while len(list((stack.inbox / "done").glob("twice.flv*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    kept = sorted(p.read_bytes() for p in (stack.inbox / "done").glob("twice.flv*"))
    assert kept == sorted([media(FLV).read_bytes(), media("valid/mpeg4asp_960x400_mp3.avi").read_bytes()])
    stack.drop(media(FLV), "twice-again.flv")  # the same bytes under another name: its own key and job
    assert stack.wait_filed("twice-again.flv") == "done"


@pytest.mark.parametrize("interval", [0.2, 1.0, 3.0])
def test_a_file_still_being_written_is_not_taken(hostile, interval):
    """Appended in six chunks `interval` s apart while held open (the settle time here is
    0.3 s: only the open-for-writing check keeps the slow writers out)."""
    stack = hostile
    name = f"slow-writer-{interval}.mp4"
    data = media(MP4).read_bytes()
    chunks = [data[i * len(data) // 6:(i + 1) * len(data) // 6] for i in range(6)]
    early = []

    def write() -> None:
        with open(stack.inbox / name, "wb") as f:
            for c in chunks:
                f.write(c)
                f.flush()
                time.sleep(interval)
                if (stack.inbox / "done" / name).exists() or (stack.inbox / "failed" / name).exists():
                    early.append(f.tell())
    writer = threading.Thread(target=write)
    writer.start()
    writer.join()
    assert not early, f"taken at {early[0]} of {len(data)} bytes while being written"
    assert stack.wait_filed(name, 60) == "done", note_of(stack, name)
