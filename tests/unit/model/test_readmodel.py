"""The read model's one definition of its rows: every row field is a column of the
migrations, the probe columns are row fields, and a row's `video_info` carries every
probe column under its API name."""

from __future__ import annotations

import re
from pathlib import Path

from contracts import AudioInfo, Probe, VideoInfo
from readmodel.db import MIGRATIONS_DIR
from readmodel.rows import JOB_COLUMNS, PROBE_COLUMNS, TASK_COLUMNS, probe_columns, video_info


def columns(table: str) -> set[str]:
    """Column names of `table` from every migration's CREATE TABLE and ADD COLUMN."""
    found: set[str] = set()
    for path in sorted(Path(MIGRATIONS_DIR).glob("*.sql")):
        up = path.read_text().split("-- migrate:down")[0]
        body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", up, re.S)
        if body:
            for line in body.group(1).splitlines():
                word = line.strip().split(" ")[0]
                if word.isidentifier() and word.islower():  # column lines, not CHECK / PRIMARY KEY
                    found.add(word)
        found |= set(re.findall(rf"ALTER TABLE {table} ADD COLUMN (\w+)", up))
    return found


def test_rows_are_the_tables():
    assert set(JOB_COLUMNS) == columns("jobs")
    assert set(TASK_COLUMNS) == columns("tasks")
    assert {c.column for c in PROBE_COLUMNS} <= set(JOB_COLUMNS)


def test_probe_to_columns_to_video_info():
    probe = Probe(container="matroska,webm", duration_seconds=30.0, size_bytes=5, bitrate=900_000,
                  video=VideoInfo(codec="vp8", width=1280, height=720, display_width=1280, display_height=720,
                                  fps=24.0, bitrate=800_000, pixel_format="yuv420p"),
                  audio=AudioInfo(codec="vorbis", bitrate=112_000, sample_rate=44_100, channels=2))
    row = probe_columns(probe)
    info = video_info(row)
    assert info is not None and info["codec"] == "vp8" and info["audio_sample_rate"] == 44_100
    assert list(info) == [c.field for c in PROBE_COLUMNS] and len(set(info)) == len(PROBE_COLUMNS)
    assert video_info({**row, "video_codec": None}) is None  # not ingested yet
