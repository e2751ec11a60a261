"""The recording download is a small, valid, faststart MP4, and the box walker is strict."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from meetings_emulator.http.media import RECORDING_MP4_TYPE, mp4_boxes, recording_mp4


def child_payload(data: bytes, parent_offset: int, box_type: str) -> bytes:
    """Return the payload of the first child `box_type` inside the box at `parent_offset`."""
    (parent_size,) = struct.unpack_from(">I", data, parent_offset)
    offset = parent_offset + 8
    for child_type, size in mp4_boxes(data[offset : parent_offset + parent_size]):
        if child_type == box_type:
            return data[offset + 8 : offset + size]
        offset += size
    raise AssertionError(f"no {box_type!r} box found")


def box_offset(data: bytes, box_type: str) -> int:
    offset = 0
    for found, size in mp4_boxes(data):
        if found == box_type:
            return offset
        offset += size
    raise AssertionError(f"no top-level {box_type!r} box")


def test_media_type_and_caching() -> None:
    assert RECORDING_MP4_TYPE == "video/mp4"
    assert recording_mp4() is recording_mp4()


def test_starts_with_ftyp_of_a_known_brand() -> None:
    data = recording_mp4()
    assert data[4:8] == b"ftyp"
    assert data[8:12] in {b"isom", b"mp42", b"mp41", b"avc1"}


def test_moov_comes_before_mdat_and_sizes_cover_the_file() -> None:
    data = recording_mp4()
    boxes = mp4_boxes(data)
    types = [box_type for box_type, _ in boxes]
    assert types[0] == "ftyp"
    assert "moov" in types
    assert "mdat" in types
    assert types.index("moov") < types.index("mdat")
    assert sum(size for _, size in boxes) == len(data)


def test_file_is_small() -> None:
    assert 0 < len(recording_mp4()) < 64 * 1024


def test_mvhd_duration_is_between_one_and_five_seconds() -> None:
    data = recording_mp4()
    mvhd = child_payload(data, box_offset(data, "moov"), "mvhd")
    if mvhd[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", mvhd, 4 + 8 + 8)
    else:
        assert mvhd[0] == 0
        timescale, duration = struct.unpack_from(">II", mvhd, 4 + 4 + 4)
    assert timescale > 0
    assert 1 <= duration / timescale <= 5


def test_walker_rejects_truncated_data() -> None:
    with pytest.raises(ValueError, match="remain"):
        mp4_boxes(recording_mp4()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        mp4_boxes(b"\x00\x00\x00\x08fre")


def test_walker_rejects_a_size_below_the_header() -> None:
    with pytest.raises(ValueError, match="declares size 4"):
        mp4_boxes(struct.pack(">I4s", 4, b"free") + b"\x00" * 8)
    with pytest.raises(ValueError, match="declares size 8"):
        mp4_boxes(struct.pack(">I4sQ", 1, b"mdat", 8))


def test_walker_reads_largesize_and_to_end_boxes() -> None:
    large = struct.pack(">I4sQ", 1, b"mdat", 20) + b"abcd"
    to_end = struct.pack(">I4s", 0, b"free") + b"xyz"
    assert mp4_boxes(large + to_end) == [("mdat", 20), ("free", 11)]
    assert mp4_boxes(b"") == []


@pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe is not on PATH (install ffmpeg to run)"
)
def test_ffprobe_sees_an_h264_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "recording.mp4"
    path.write_bytes(recording_mp4())
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    streams = json.loads(result.stdout)["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]
    assert [s["codec_name"] for s in video] == ["h264"]
