"""What a file really is, read from its own bytes before anything is decided about it
(``inspect``): the format its first bytes say (``sniff``), whether that is the one its name
says, whether a WAV's header declares more audio than the file holds, and whether bytes follow
the end of the container. File-level flags:

- ``content_not_extension_<format>``: the content is ``<format>`` and the name says another
  known format (a WAV named ``.mp4``);
- ``shorter_than_declared_track_0``: a WAV/RIFF whose ``data`` chunk declares more bytes than
  follow it (a copy cut short; FFmpeg decodes what is there without a word);
- ``trailing_bytes``: bytes after the end of a RIFF, ISO-BMFF (MP4, MOV, M4A, 3GP) or
  Matroska/WebM container (something appended, or two files joined).

Only the first and last few kilobytes and the top-level structure are read; the evidence is
opened read-only.
"""

from __future__ import annotations

import os
import struct
from pathlib import PurePath

HEAD_BYTES = 64
#: the formats a file's name can say (lower-case extension -> format)
BY_EXTENSION = {
    ".wav": "wav", ".wave": "wav", ".bwf": "wav",
    ".mp4": "mp4", ".m4a": "mp4", ".m4v": "mp4", ".mov": "mp4", ".3gp": "mp4", ".3g2": "mp4",
    ".mkv": "matroska", ".mka": "matroska", ".webm": "matroska",
    ".mp3": "mp3", ".aac": "aac", ".ogg": "ogg", ".oga": "ogg", ".opus": "ogg", ".flac": "flac",
    ".amr": "amr", ".aif": "aiff", ".aiff": "aiff", ".wma": "asf", ".wmv": "asf", ".asf": "asf",
    ".flv": "flv", ".caf": "caf",
}


#: the first bytes of each format: (every (offset, bytes) that must be there, the format), in order
MAGIC: list[tuple[tuple[tuple[int, bytes], ...], str]] = [
    (((0, b"RIFF"), (8, b"WAVE")), "wav"), (((0, b"RF64"), (8, b"WAVE")), "wav"), (((0, b"BW64"), (8, b"WAVE")), "wav"),
    (((4, b"ftyp"),), "mp4"),
    (((0, b"\x1a\x45\xdf\xa3"),), "matroska"),
    (((0, b"OggS"),), "ogg"),
    (((0, b"fLaC"),), "flac"),
    (((0, b"#!AMR"),), "amr"),
    (((0, b"FORM"), (8, b"AIFF")), "aiff"), (((0, b"FORM"), (8, b"AIFC")), "aiff"),
    (((0, b"\x30\x26\xb2\x75"),), "asf"),
    (((0, b"FLV"),), "flv"),
    (((0, b"caff"),), "caf"),
    (((0, b"ID3"),), "mp3"),  # an ID3 tag opens MP3 files (ADTS AAC with one is rare)
]


def sniff(head: bytes) -> str | None:
    """The format the first bytes of a file say, or None when they say none of ``BY_EXTENSION``'s."""
    for checks, found in MAGIC:
        if all(head[at: at + len(magic)] == magic for at, magic in checks):
            return found
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # MPEG audio sync: layer bits 00 = ADTS
    return None


def _riff(f, size: int) -> list[str]:
    """A RIFF/WAVE file's declared sizes against what it holds."""
    flags = []
    f.seek(0)
    head = f.read(12)
    if head[:4] != b"RIFF":  # RF64/BW64 keep their sizes in a ds64 chunk: not read here
        return flags
    riff_end = 8 + struct.unpack("<I", head[4:8])[0]
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk, length = struct.unpack("<4sI", f.read(8))
        if chunk == b"data":
            if length not in (0, 0xFFFFFFFF) and pos + 8 + length > size:
                flags.append("shorter_than_declared_track_0")
            break
        pos += 8 + length + (length & 1)
    if riff_end + (riff_end & 1) < size and riff_end > 12:
        flags.append("trailing_bytes")
    return flags


def _boxes_end(f, size: int) -> int | None:
    """Where an ISO-BMFF file's top-level boxes end (None: a box runs past the file, not ours to judge)."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        length, kind = struct.unpack(">I4s", f.read(8))
        if length == 1:
            length = struct.unpack(">Q", f.read(8))[0]
        elif length == 0:  # the last box runs to the end of the file
            return size
        if length < 8 or not kind.isascii() or not all(32 <= c < 127 for c in kind):
            return pos  # not a box: whatever is here follows the container
        pos += length
    return pos if pos <= size else None


def _ebml_number(f) -> tuple[int, int] | None:
    """One EBML variable-length number (its value with the length marker removed, its width)."""
    first = f.read(1)
    if not first:
        return None
    b = first[0]
    width = next((i + 1 for i in range(8) if b & (0x80 >> i)), None)
    if width is None:
        return None
    value = b & (0xFF >> width)
    for c in f.read(width - 1):
        value = (value << 8) | c
    return value, width


def _matroska_end(f, size: int) -> int | None:
    """Where a Matroska file's EBML header and Segment end (None: unknown-sized segment)."""
    f.seek(0)
    pos = 0
    for _ in range(2):  # the EBML header, then the Segment
        ident = _ebml_number(f)
        length = _ebml_number(f)
        if ident is None or length is None:
            return None
        value, width = length
        if value == (1 << (7 * width)) - 1:  # "unknown size": a live recording, runs to the end
            return None
        pos = f.tell() + value
        f.seek(pos)
    return pos


#: where a container of each format ends, read from its top-level structure (None: not known)
CONTAINER_END = {"mp4": _boxes_end, "matroska": _matroska_end}


def inspect(path: str, name: str) -> list[str]:
    """File-level flags from the file's own bytes (see the module docstring)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        found = sniff(head)
        flags = []
        said = BY_EXTENSION.get(PurePath(name).suffix.lower())
        if found and said and found != said and {found, said} != {"mp3", "aac"}:
            flags.append(f"content_not_extension_{found}")
        if found == "wav":
            flags += _riff(f, size)
        elif found in CONTAINER_END:
            end = CONTAINER_END[found](f, size)
            if end is not None and end < size:
                flags.append("trailing_bytes")
    return flags
