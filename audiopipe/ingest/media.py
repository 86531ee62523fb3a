"""What a media file holds: container and stream facts (``probe``), read with PyAV, which
carries its own FFmpeg libraries (no system ffmpeg is needed)."""

from __future__ import annotations

import os

import av

from ..errors import CorruptMedia, UnreadableFile
from ..records import Probe, StreamInfo


def open_media(path: str, label: str) -> av.container.InputContainer:
    if not os.access(path, os.R_OK):
        raise UnreadableFile(f"permission denied reading {label}")
    try:
        return av.open(path, mode="r", metadata_errors="replace")
    except av.error.PermissionError as exc:
        raise UnreadableFile(f"permission denied reading {label}") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptMedia(f"{label} is not a readable media file: {exc}") from exc


def seconds(value: int | None, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: str, label: str) -> Probe:
    """Container and stream facts of one file (PyAV); raises ``CorruptMedia`` if unreadable."""
    with open_media(path, label) as container:
        file_start_s = container.start_time / av.time_base if container.start_time is not None else None
        streams = []
        for s in container.streams:
            start_s = seconds(s.start_time, s.time_base)
            cc = s.codec_context
            kind = s.type or "data"
            streams.append(StreamInfo(
                index=s.index,
                kind=kind,
                codec=(cc.name if cc is not None else None) or "unknown",
                duration_s=seconds(s.duration, s.time_base),
                sample_rate_hz=getattr(cc, "sample_rate", None) if kind == "audio" else None,
                channels=getattr(cc, "channels", None) if kind == "audio" else None,
                width=getattr(cc, "width", None) if kind == "video" else None,
                height=getattr(cc, "height", None) if kind == "video" else None,
                language=s.metadata.get("language"),
                start_s=(round(max(0.0, start_s - file_start_s), 6)
                         if start_s is not None and file_start_s is not None else None),
            ))
        tags = {str(k): str(v) for k, v in container.metadata.items()}
        duration = container.duration / av.time_base if container.duration else None
        return Probe(
            container=container.format.name,
            duration_s=duration,
            bit_rate=container.bit_rate or None,
            streams=tuple(streams),
            tags=tags,
            creation_time=tags.get("creation_time"),
        )

