"""Small typed records passed between the stages.

Every time is in seconds (float) from the start of the decoded track and is named
``*_s``; sample counts are ``*_samples``; rates are ``*_hz``; levels ``*_dbfs``.
Records are frozen dataclasses so that a stage cannot alter what an earlier stage
produced; ``to_dict`` gives the JSON form written to ``result.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def to_dict(record: Any) -> Any:
    """Turn a record (or list/dict of records) into plain JSON-ready Python values."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_dict(getattr(record, f.name)) for f in dataclasses.fields(record)
                if f.metadata.get("json", True)}
    if isinstance(record, (list, tuple)):
        return [to_dict(r) for r in record]
    if isinstance(record, dict):
        return {k: to_dict(v) for k, v in record.items()}
    if isinstance(record, (np.floating,)):
        return float(record)
    if isinstance(record, (np.integer,)):
        return int(record)
    if isinstance(record, np.bool_):
        return bool(record)
    return record


def union(spans_s: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Time spans (start_s, end_s) merged where they overlap or touch, in time order."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans_s):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media container, as probed."""

    index: int
    kind: str  # "audio", "video", "subtitle", "data"
    codec: str
    duration_s: float | None
    sample_rate_hz: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    language: str | None = None
    # where the stream begins on the file's timeline, the one players show (its start time
    # minus the file's); None when the container does not say
    start_s: float | None = None


@dataclass(frozen=True)
class Probe:
    """Container-level facts about one input file."""

    container: str
    duration_s: float | None
    bit_rate: int | None
    streams: tuple[StreamInfo, ...]
    tags: dict[str, str]
    creation_time: str | None

    @property
    def audio_streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.kind == "audio")


@dataclass(frozen=True)
class MediaFile:
    """One file found in the evidence folder.

    ``path`` is relative to the evidence folder and printable (bytes that are not
    UTF-8 appear as ``\\xNN`` escapes); ``abs_path`` is the real path to open.
    """

    path: str
    abs_path: str
    size_bytes: int
    sha256: str | None = None

    @property
    def short_id(self) -> str:
        """First 12 hex of the SHA-256: the name of the file's result folder."""
        return (self.sha256 or "")[:12]


@dataclass(frozen=True)
class Track:
    """One decoded audio stream.

    ``audio_16k``: np.ndarray float32, shape = (n_samples,), mono, 16 kHz, for the speech models.
    ``audio_native``: np.ndarray float32, shape = (n_channels, n_native_samples), every
    channel at the stream's own rate, for transient analysis (content above 8 kHz kept).
    ``start_s``: where the first sample plays on the file's timeline (an audio stream that
    begins after the video). The stages work in the track's own time; ``shifted`` moves their
    records onto the file's timeline, which every output uses.
    """

    index: int  # position among the file's audio streams (0 = first audio track)
    stream_index: int  # index of the stream in the container
    codec: str
    native_rate_hz: int
    channels: int
    duration_s: float
    audio_16k: np.ndarray = field(repr=False, compare=False, metadata={"json": False})
    audio_native: np.ndarray = field(repr=False, compare=False, metadata={"json": False})
    start_s: float = 0.0


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker (a diarization turn or a VAD region)."""

    track: int
    start_s: float
    end_s: float
    speaker: str | None = None
    source: str = "diarization"  # or "vad"

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class LanguageGuess:
    """Spoken-language identification of one turn: its own detection (``raw_*``) and the
    language decided over the file (``language``, posterior ``language_prob``)."""

    turn_index: int
    track: int
    start_s: float
    end_s: float
    speaker: str | None
    language: str
    language_prob: float
    language_top3: tuple[tuple[str, float], ...]
    language_uncertain: bool
    raw_language: str  # the turn's own detection (restricted to the expected languages, if given)
    raw_language_prob: float
    decided_by: str  # "turn", "speaker", "file", "forced", "restricted"
    raw_language_top3: tuple[tuple[str, float], ...] = ()
    could_be: tuple[str, ...] = ()  # what a language this model confuses may really be (language_confusable)


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A transcribed stretch of one turn."""

    track: int
    start_s: float
    end_s: float
    speaker: str | None
    language: str
    language_prob: float
    language_top3: tuple[tuple[str, float], ...]
    language_uncertain: bool
    text: str
    text_en: str | None
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    text_language: str | None
    words: tuple[Word, ...]
    flags: tuple[str, ...]
    language_could_be: tuple[str, ...] = ()  # what its language may really be (flag language_confusable)


@dataclass(frozen=True)
class Event:
    """An impulsive, gunshot-like transient."""

    track: int
    time_s: float
    peak_dbfs: float
    rise_time_ms: float
    duration_ms: float
    centroid_hz: float
    bandwidth_hz: float
    high_band_ratio: float
    broadband: float
    impulsiveness_db: float
    decay_db_per_ms: float
    attack_db: float
    flatness: float
    low_band_ratio: float
    tail_db: float
    level_over_track_db: float
    clipped: bool
    gunshot_score: float  # calibrated probability that this is a gunshot (raised when in_rhythm or near_gunfire)
    is_gunshot: bool
    category: str = "other_impulsive"  # gunshot | possible_gunshot | other_impulsive
    burst_id: int | None = None
    crack_time_s: float | None = None
    blast_time_s: float | None = None
    distance_m_min: float | None = None
    distance_m_max: float | None = None
    in_rhythm: bool = False  # score raised: keeps the rhythm of automatic fire with its neighbours
    near_gunfire: bool = False  # score raised to the possible cut: a near miss beside a sure gunshot at its level
    audioset_top3: str = ""  # the AudioSet network's three highest classes on the event's frame, with scores


@dataclass(frozen=True)
class SoundEvent:
    """A stretch of the sound scene: an explosion, an aircraft, a siren, a scream ... (a label
    of ``configs/scene_labels.yaml``)."""

    track: int
    start_s: float
    end_s: float
    label: str
    score: float  # the label's highest (smoothed) AudioSet score over the event
    top_classes: str  # the AudioSet classes behind it, with their scores ("Explosion 0.84; Boom 0.61")
    runner_up: str = ""  # the next label heard there ("vehicle 0.62"), where it reached half its cut


@dataclass(frozen=True)
class Burst:
    """Gunshots close enough in time to be one episode of firing."""

    burst_id: int
    track: int
    start_s: float
    end_s: float
    shot_count: int
    median_interval_s: float | None
    rate_rpm: float | None
    fire_mode: str  # "automatic", "semi-automatic/single", "unknown"


@dataclass(frozen=True)
class AlignedEvent:
    """An event with the speech nearest to it."""

    track: int
    time_s: float
    burst_id: int | None
    segment_index: int | None
    offset_s: float | None  # event time minus the nearest point of the segment; 0 when inside
    speaker: str | None
    language: str | None
    text: str | None


#: the fields of the records that are points in time (every other ``*_s`` is a length)
TIME_POINTS = ("start_s", "end_s", "time_s", "crack_time_s", "blast_time_s")


def shifted(record, by_s: float):
    """A stage's record (``Turn``, ``LanguageGuess``, ``Segment`` with its words, ``Event``,
    ``Burst``, ``SoundEvent``) moved ``by_s`` seconds later: from a track's own time onto the file's."""
    if not by_s:
        return record
    moved = {f: round(getattr(record, f) + by_s, 6) for f in TIME_POINTS if getattr(record, f, None) is not None}
    if getattr(record, "words", None):
        moved["words"] = tuple(shifted(w, by_s) for w in record.words)
    return dataclasses.replace(record, **moved)


@dataclass
class FileResult:
    """Everything audiopipe found in one input file: the content of ``result.json``."""

    sha256: str
    paths: list[str]
    size_bytes: int
    status: str  # "ok", "error", "skipped"
    error: str | None = None
    error_kind: str | None = None
    probe: Probe | None = None
    tracks: list[Track] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    languages: list[LanguageGuess] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    aligned_events: list[AlignedEvent] = field(default_factory=list)
    sounds: list[SoundEvent] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> "done", "off", "failed: ..."
    timings_s: dict[str, float] = field(default_factory=dict)
    resume_key: str | None = None
    #: CPU threads the models ran with: another count can change the last digits of a score (the
    #: order of floating-point sums), so two runs give the same bytes only with the same count
    threads: int | None = None
