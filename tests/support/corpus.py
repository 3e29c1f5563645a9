"""The validity corpus (issue 27): files of the kinds people have, generated at run time
from the real media (nothing committed). Each case is a file name and what must become of
it: `done` (a valid file: the job completes) or the reason code it is refused with, at the
door and in ingest alike."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from media.run import ffmpeg_binary
from tests.media import media

SPEECH = "valid/friday_640x480_speech_h264_aac.mp4"
SILENT = "valid/msmpeg4v2_640x360_noaudio.avi"
MUSIC = "valid/bbb_1280x720_30s_vp8_vorbis.webm"


@dataclass(frozen=True)
class Case:
    """One corpus file: `name` (with the extension its kind carries), the ffmpeg arguments
    that make it (`{src}`: a real clip, `{out}`: the file), and `expect`: `done` or a code."""

    name: str
    args: tuple[str, ...]
    expect: str
    source: str = SPEECH
    text: bytes | None = None
    #: A second ffmpeg step on the first one's output (`{prev}`), writing `{out}`.
    then: tuple[str, ...] = ()


def _cut(seconds: float = 3.0) -> tuple[str, ...]:
    return ("-t", str(seconds), "-i", "{src}")


H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "64k")
#: Valid sources in the containers PeerTube accepts besides the PRD's, and odd valid ones.
VALID = (
    Case("mpeg-ps.mpg", (*_cut(), "-c:v", "mpeg2video", "-q:v", "5", "-c:a", "mp2", "-f", "mpeg", "{out}"), "done"),
    Case("dvd.vob", (*_cut(), "-c:v", "mpeg2video", "-q:v", "5", "-c:a", "ac3", "-f", "vob", "{out}"), "done"),
    Case("theora.ogv", (*_cut(), "-c:v", "libtheora", "-q:v", "6", "-c:a", "libvorbis", "{out}"), "done"),
    Case("broadcast.mxf", (*_cut(), "-r", "25", "-c:v", "mpeg2video", "-q:v", "5", "-c:a", "pcm_s16le",
                           "-ar", "48000", "-f", "mxf", "{out}"), "done"),
    Case("clip.nut", (*_cut(), *H264, "-f", "nut", "{out}"), "done"),
    Case("raw.y4m", ("-t", "1.5", "-i", "{src}", "-vf", "scale=640:360", "-pix_fmt", "yuv420p", "-an",
                     "-f", "yuv4mpegpipe", "{out}"), "done", SILENT),
    Case("avchd.m2ts", (*_cut(), *H264, "-f", "mpegts", "-mpegts_m2ts_mode", "1", "{out}"), "done"),
    Case("camcorder.mts", (*_cut(), *H264, "-f", "mpegts", "-mpegts_m2ts_mode", "1", "{out}"), "done"),
    Case("phone.3gp", (*_cut(), *H264, "-f", "3gp", "{out}"), "done"),
    Case("phone.3g2", (*_cut(), *H264, "-f", "3g2", "{out}"), "done"),
    # a static 2 s clip at 1 fps: a TS segment smaller than one read of the probe
    Case("static-1fps.mp4", ("-f", "lavfi", "-i", "color=black:size=640x360:rate=1:duration=2",
                             "-c:v", "libx264", "{out}"), "done"),
    # 32 audio tracks, each the clip's, keyframes seconds apart: complete, however many
    # packets its tail holds (the end check read 5000 packets of every stream: "truncated")
    Case("32-audio-tracks.webm", ("-ss", "25", "-i", "{src}", "-map", "0:v", *(["-map", "0:a"] * 32), "-c", "copy",
                                  "{out}"), "done", MUSIC),
    # 500 video streams (a still clip's, copied): complete, the first one is the video
    Case("500-video-streams.mkv", ("-f", "lavfi", "-i", "color=gray:size=640x360:rate=1:duration=2",
                                   "-c:v", "libx264", "{out}"), "done",
         then=("-i", "{prev}", *(["-map", "0:v"] * 500), "-c", "copy", "{out}")),
    # extreme VFR: 100 frames 1 ms apart (timescale 100000), then 30 fps
    Case("burst-vfr.mp4", (*_cut(6.0), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
                           "-video_track_timescale", "100000",
                           "-bsf:v", "setts=ts='if(lt(N,100),N*0.001,0.1+(N-100)/30)/TB'", "{out}"), "done"),
    # frames 10 µs apart: the same instant on the 90 kHz clock of MPEG-TS
    Case("microsecond-vfr.mp4", (*_cut(6.0), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
                                "-video_track_timescale", "100000",
                                "-bsf:v", "setts=ts='if(lt(N,100),N*0.00001,0.1+(N-100)/30)/TB'", "{out}"), "done"),
)
#: Files refused at the door, each with its reason code.
INVALID = (
    Case("speech.flac", ("-i", "{src}", "-vn", "-c:a", "flac", "{out}"), "no_video_stream"),
    Case("speech.mp3", ("-i", "{src}", "-vn", "-c:a", "libmp3lame", "{out}"), "no_video_stream"),
    Case("speech.wav", ("-i", "{src}", "-vn", "-c:a", "pcm_s16le", "{out}"), "no_video_stream"),
    Case("speech.ogg", ("-i", "{src}", "-vn", "-c:a", "libvorbis", "{out}"), "no_video_stream"),
    Case("raw.h264", (*_cut(), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-f", "h264", "{out}"),
         "unsupported_container"),
    Case("still.png", ("-i", "{src}", "-frames:v", "1", "-f", "image2", "-c:v", "png", "{out}"),
         "unsupported_container"),
    Case("list.m3u8", (), "unsupported_container",
         text=b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"),
    Case("list.ffconcat", (), "unsupported_container", text=b"ffconcat version 1.0\nfile '/etc/passwd'\n"),
    Case("stream.sdp", (), "unsupported_container",
         text=b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n"),
    # 2 s of content and one frame at 86,000 s
    Case("frame-at-86000s.mp4", (*_cut(2.0), "-an", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
                                 "-video_track_timescale", "1000",
                                 "-bsf:v", "setts=ts='if(gte(N,59),86000/TB,PTS)'", "{out}"),
         "implausible_timestamps"),
    # a tiny file whose frames would take 340 MB each to decode
    Case("huge-frame.mkv", ("-f", "lavfi", "-i", "color=black:size=15000x15000:rate=1:duration=2",
                            "-c:v", "mjpeg", "-q:v", "31", "-pix_fmt", "yuvj420p", "{out}"), "resolution_too_high"),
)


def make(case: Case, folder: Path) -> Path:
    """Write `case`'s file into `folder`; returns its path. Raises CalledProcessError."""
    out = folder / case.name
    if case.text is not None:
        out.write_bytes(case.text)
        return out
    first = out.with_name(f"step1-{out.name}") if case.then else out
    args = [a.replace("{src}", str(media(case.source))).replace("{out}", str(first)) for a in case.args]
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
    if case.then:
        args = [a.replace("{prev}", str(first)).replace("{out}", str(out)) for a in case.then]
        subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)
        first.unlink()
    return out
