"""Whisper's decoding rules, shared by both engines: the temperature fallback on a repetitive
or improbable output, the no-speech rule, timestamp tokens cut into segments, and the padding
of a window's audio. Records: ``Hypothesis`` (one decoder output), ``RawSegment`` (a decoded
stretch with its words, window times), ``Decoded`` (one window's output).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Word
from .language import SAMPLE_RATE_HZ

WHISPER_WINDOW_S = 30.0
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Whisper's fallback when an output fails the checks below
FALLBACK_COMPRESSION_RATIO = 2.4
FALLBACK_AVG_LOGPROB = -1.0
FALLBACK_MIN_S = 3.0  # shorter windows are decoded again only when they loop (see fallback_logprob)
NO_SPEECH_PROB = 0.6
RESUME_MARGIN_S = 1.0  # a window the decoder stopped this far before its end is decoded on from there
SAMPLING_SEED = 0  # the fallback samples from this seed, each track afresh: a rerun gives the same words


@dataclass(frozen=True)
class RawSegment:
    """What an engine returns for one decoded stretch; times in seconds from the window start."""

    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Decoded:
    """One window's decoder output: its segments, and where to go on from when the decoder
    stopped before the end of the window (None when it finished)."""

    segments: list[RawSegment]
    resume_s: float | None = None
    n_tokens: int = 0  # text tokens decoded


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(zlib.compress(raw)))


@dataclass(frozen=True)
class Hypothesis:
    """One decoder output: tokens (text and timestamps, no special tokens), its scores."""

    tokens: list[int]
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


def with_fallback(generate: Callable[[list[int], float], list[Hypothesis]],
                  min_avg_logprob: Sequence[float | None]) -> list[Hypothesis]:
    """Whisper's temperature fallback over a batch: items whose output is too repetitive
    (compression ratio) or too improbable (average log-probability under the item's
    ``min_avg_logprob``; None: not checked), and not silence, are decoded again at the next
    temperature; when all fail, the most probable output is kept.

    generate(indices, temperature) -> one hypothesis per index.
    """
    n = len(min_avg_logprob)
    attempts: list[list[Hypothesis]] = [[] for _ in range(n)]
    done: list[Hypothesis | None] = [None] * n
    pending = list(range(n))
    for temperature in TEMPERATURES:
        if not pending:
            break
        still = []
        for i, h in zip(pending, generate(pending, temperature)):
            attempts[i].append(h)
            improbable = min_avg_logprob[i] is not None and h.avg_logprob < min_avg_logprob[i]
            failed = h.compression_ratio > FALLBACK_COMPRESSION_RATIO or improbable
            if failed and not silent(h):
                still.append(i)
            else:
                done[i] = h
        pending = still
    for i in pending:
        usable = [h for h in attempts[i] if h.compression_ratio <= FALLBACK_COMPRESSION_RATIO] or attempts[i]
        done[i] = max(usable, key=lambda h: h.avg_logprob)
    return done  # type: ignore[return-value]


def split_by_timestamps(tokens: list[int], timestamp_begin: int, content_s: float, precision_s: float = 0.02
                        ) -> tuple[list[tuple[float, float, list[int]]], float | None]:
    """Whisper's output cut at its timestamp tokens into (start_s, end_s, text tokens), and
    the time to decode on from when it stopped early (two timestamps in a row at the end,
    well before ``content_s``), else None. Text after the last timestamp ends at ``content_s``."""
    segments: list[tuple[float, float, list[int]]] = []
    start: float | None = None
    last_ts: float | None = None
    text: list[int] = []
    for tok in tokens:
        if tok >= timestamp_begin:
            t = min((tok - timestamp_begin) * precision_s, content_s)
            if text:
                segments.append((start if start is not None else 0.0, t, text))
                text, start = [], None
            else:
                start = t
            last_ts = t
        else:
            if start is None:
                start = last_ts if last_ts is not None else 0.0
            text.append(tok)
    if text:
        segments.append((start if start is not None else 0.0, content_s, text))
    ended_twice = len(tokens) >= 2 and tokens[-1] >= timestamp_begin and tokens[-2] >= timestamp_begin
    resume = last_ts if ended_twice and last_ts is not None and last_ts < content_s - RESUME_MARGIN_S else None
    return segments, resume


def padded(audio_16k: np.ndarray, min_s: float) -> np.ndarray:
    """Zero samples appended up to ``min_s`` seconds (as Whisper was trained for short audio)."""
    n = int(round(min_s * SAMPLE_RATE_HZ))
    return np.pad(audio_16k, (0, n - audio_16k.size)) if audio_16k.size < n else audio_16k


def batch_s(audio_16k: Sequence[np.ndarray], min_s: float) -> float:
    """Length every clip of a batch is padded to: ``min_s``, the longest clip, at most 30 s,
    a whole number of encoder frames (two 10-ms mel frames)."""
    longest = max(a.size for a in audio_16k) / SAMPLE_RATE_HZ
    return min(WHISPER_WINDOW_S, float(np.ceil(max(min_s, longest) * 50.0) / 50.0))


def fallback_logprob(task: str, content_s: float) -> float | None:
    """Below what average log-probability a window is decoded again at a higher temperature.

    Only transcriptions of ``FALLBACK_MIN_S`` or more: five samples at each of five
    temperatures cost more than the rest of the window's work, and on a translation or a
    second of speech under gunfire they gave nothing more probable (bench/speech.py); such
    a window is decoded again only when it loops, and its low probability is flagged."""
    return FALLBACK_AVG_LOGPROB if task == "transcribe" and content_s >= FALLBACK_MIN_S else None


def text_tokens(h: Hypothesis, timestamp_begin: int) -> int:
    return sum(t < timestamp_begin for t in h.tokens)


def silent(h: Hypothesis) -> bool:
    """Whisper's no-speech rule: the model says silence and cannot write anything probable."""
    return h.no_speech_prob > NO_SPEECH_PROB and h.avg_logprob < FALLBACK_AVG_LOGPROB


def segment_dicts(h: Hypothesis, timestamp_begin: int, content_s: float) -> tuple[list[dict], float | None]:
    """A hypothesis cut into segments, as the segment dicts both libraries' word timing
    fills in (``words``) and adjusts (``start``, ``end``); nothing for silence."""
    if silent(h):
        return [], None
    segments, resume = split_by_timestamps(h.tokens, timestamp_begin, content_s)
    return [dict(seek=0, start=s, end=e, tokens=t) for s, e, t in segments], resume


def raw_segment(seg: dict, h: Hypothesis, decode_text: Callable[[list[int]], str]) -> RawSegment:
    words = tuple(Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                  for w in seg.get("words", []))
    text = decode_text(seg["tokens"]).strip()
    return RawSegment(float(seg["start"]), float(seg["end"]), text, h.avg_logprob, h.no_speech_prob,
                      compression_ratio(text), words)

