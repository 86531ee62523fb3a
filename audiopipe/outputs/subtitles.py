"""SRT and WebVTT transcripts with speaker and language tags (``[SPEAKER_01 | az]``)."""

from __future__ import annotations

from typing import Any


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000.0))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(segments: list[dict[str, Any]], field: str) -> list[tuple[float, float, str]]:
    cues = []
    for s in segments:
        text = s.get(field) if field == "text" else (s.get(field) or (s["text"] if s["language"] == "en" else None))
        if not text or not text.strip():
            continue
        tag = " | ".join(x for x in [s.get("speaker"), s.get("language")] if x)
        if len({x.get("track") for x in segments}) > 1:
            tag = f"track {s['track']} | {tag}"
        end = s["end_s"] if s["end_s"] > s["start_s"] else s["start_s"] + 0.5
        cues.append((s["start_s"], end, f"[{tag}] {text.strip()}"))
    return cues


def srt(segments: list[dict[str, Any]], field: str = "text") -> str:
    """``field``: "text" for the original words, "text_en" for the English translation."""
    blocks = [f"{i}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{t}\n"
              for i, (a, b, t) in enumerate(_cues(segments, field), start=1)]
    return "\n".join(blocks)


def vtt(segments: list[dict[str, Any]], field: str = "text") -> str:
    blocks = [f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{t.replace('-->', '->')}\n"
              for a, b, t in _cues(segments, field)]
    return "WEBVTT\n\n" + "\n".join(blocks)
