"""The media the emulator serves: a small, valid MP4 as every finished recording's download.

The file lives in `assets/recording.mp4` and ships inside the package; `assets/README.md`
says how it was made. It is read from the package once and then kept in memory.
"""

from __future__ import annotations

import struct
from functools import cache
from importlib.resources import files

RECORDING_MP4_TYPE = "video/mp4"


@cache
def recording_mp4() -> bytes:
    """Return the bytes of the recording download (2 s, 160x90 H.264 with silent AAC)."""
    return (files("meetings_emulator.http") / "assets" / "recording.mp4").read_bytes()


def mp4_boxes(data: bytes) -> list[tuple[str, int]]:
    """List the top-level ISO BMFF boxes in `data` as (type, size) pairs, in file order.

    A size of 1 means a 64-bit size follows the type; a size of 0 means the box runs to
    the end of the data. Raises ValueError if a box is truncated or its size is impossible.
    The same walk works on a box's payload, such as the children of `moov`.
    """
    boxes: list[tuple[str, int]] = []
    offset = 0
    end = len(data)
    while offset < end:
        if end - offset < 8:
            raise ValueError(f"truncated box header at offset {offset}")
        size, raw_type = struct.unpack_from(">I4s", data, offset)
        box_type = raw_type.decode("latin-1")
        header = 8
        if size == 1:
            if end - offset < 16:
                raise ValueError(f"truncated 64-bit size for {box_type!r} at offset {offset}")
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header:
            raise ValueError(f"box {box_type!r} at offset {offset} declares size {size}")
        if offset + size > end:
            raise ValueError(
                f"box {box_type!r} at offset {offset} declares {size} bytes,"
                f" only {end - offset} remain"
            )
        boxes.append((box_type, size))
        offset += size
    return boxes
