"""Onsets: candidate transients at ~1 ms resolution on the native-rate audio, echoes removed,
each described by its features (``candidates``). Records: ``Candidate``.

Detection (all channels, native rate, content above 8 kHz kept):

1. Each channel is high-passed at ``highpass_hz`` (speech and wind sit mostly below it;
   a shot is broadband). The energy envelope is the mean square over ``window_ms`` every
   ``hop_ms``, the loudest channel taken per frame (a shot clipped or masked on one
   channel still shows on another), in dB.
2. The background is a running 20th percentile of the envelope over
   ``background_window_s``: it follows wind, traffic and speech, so a quiet shot in a quiet
   room and a loud one over talk are judged against their own surroundings.
3. A candidate onset is a frame where the envelope rises by at least ``min_rise_db`` within
   ``rise_span_ms`` and stands ``min_rise_db`` above the background, with a peak above
   ``min_level_dbfs``. Its time is refined to the first sample whose high-passed magnitude
   reaches 20 % of the local peak.
   The time before a track's first sample is taken as quiet (``lead_in_s`` of faint noise
   at ``LEAD_IN_RMS``, as the classifier's training clips begin): a shot at the very
   start of a file (a clip trimmed to the shot) is found, where a rise measured from the
   first frame would not be. A file that starts in the middle of a sustained sound then rises
   from that quiet too; such an onset is kept only if the sound falls ``DECAY_DB`` within
   ``DECAY_S`` (a bang does; a recording that begins in the middle of noise or speech need not).
   Every real shot on a clip's first samples falls 30 dB or more within 0.5 s, a file cut
   in the middle of speech often 20 dB too (a pause): such a start can still be an event,
   scored by the classifier like any other (bench/events.py: 1 of the 192 mixtures in speech,
   ``possible_gunshot`` 0.33 at 0.00 s). ``lead_in_s`` = 0 turns this off for files that
   continue a recording.
4. Onsets closer than ``min_gap_ms`` are one event. An onset that comes within
   ``echo_window_s`` of a louder event and stays ``echo_drop_db`` or more below its peak
   is that event's echo or reverberation and is not counted.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage, signal

from ..config import EventsConfig
from ..models.audioset import LEAD_IN_RMS
from ..records import Track
from .cracks import is_crack
from .features import db, describe, level_over_track_db, track_level_db

BLOCK_CONTEXT_S = 2.0  # audio read either side of a block
BACKGROUND_STEP = 10  # envelope frames per point of the background's coarse grid
START_S = 0.02  # an onset this close to the start of a track rose from the lead-in ...
DECAY_S, DECAY_DB = 0.5, 20.0  # ... and is kept only if its sound falls this much within this time


def _hop(sr_hz: int, cfg: EventsConfig) -> int:
    return max(1, int(round(sr_hz * cfg.hop_ms / 1000.0)))


def envelope_db(x: np.ndarray, sr_hz: int, cfg: EventsConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """High-passed energy envelope.

    x: np.ndarray float32, shape = (n_channels, n_samples).
    Returns (env_db, shape = (n_frames,), the loudest channel per frame;
    hp, shape = (n_channels, n_samples), the high-passed signal; hop_samples).
    """
    hop = _hop(sr_hz, cfg)
    win = max(hop, int(round(sr_hz * cfg.window_ms / 1000.0)))
    cutoff = min(cfg.highpass_hz, 0.45 * sr_hz)
    sos = signal.butter(4, cutoff, btype="highpass", fs=sr_hz, output="sos")
    hp = signal.sosfilt(sos, x, axis=-1).astype(np.float32)
    n_frames = max(0, (x.shape[1] - win) // hop + 1)
    if n_frames == 0:
        return np.zeros(0), hp, hop
    return db(_frame_power(hp, n_frames, hop, win).max(axis=0)), hp, hop


def _frame_power(hp: np.ndarray, n_frames: int, hop: int, win: int) -> np.ndarray:
    """Mean square of each ``win``-sample frame, one every ``hop`` samples, per channel: from
    per-hop sums where the window is a whole number of hops (2 ms over 1 ms at every common
    rate), else from a running sum. Returns shape = (n_channels, n_frames)."""
    if win % hop == 0:
        k = win // hop
        sq = hp[:, : (n_frames + k - 1) * hop].astype(np.float64)
        np.square(sq, out=sq)
        per_hop = sq.reshape(hp.shape[0], -1, hop).sum(axis=2)
        power = per_hop[:, :n_frames].copy()
        for j in range(1, k):
            power += per_hop[:, j: j + n_frames]
        return power / win
    sq = hp.astype(np.float64)
    np.square(sq, out=sq)
    csum = np.zeros((hp.shape[0], hp.shape[1] + 1))
    np.cumsum(sq, axis=1, out=csum[:, 1:])
    starts = np.arange(n_frames) * hop
    return (csum[:, starts + win] - csum[:, starts]) / win


def background_db(env_db: np.ndarray, hop_ms: float, window_s: float) -> np.ndarray:
    """Running 20th percentile of the envelope, computed on a 10x coarser grid for speed."""
    if env_db.size == 0:
        return env_db
    step = BACKGROUND_STEP
    coarse = env_db[: env_db.size // step * step].reshape(-1, step).mean(axis=1) if env_db.size >= step else env_db
    size = max(3, int(window_s * 1000.0 / hop_ms / step))
    bg = ndimage.percentile_filter(coarse, 20, size=size, mode="nearest")
    return np.interp(np.arange(env_db.size), np.arange(coarse.size) * step + step / 2, bg)


def _candidates(env: np.ndarray, bg: np.ndarray, hop_ms: float, cfg: EventsConfig) -> list[int]:
    span = max(1, int(round(cfg.rise_span_ms / hop_ms)))
    padded = np.concatenate([np.full(span, env[0] if env.size else 0.0), env])
    prior_min = np.lib.stride_tricks.sliding_window_view(padded[:-1], span).min(axis=1)
    rise = env - prior_min
    ahead = max(1, int(round(10.0 / hop_ms)))
    peak_ahead = ndimage.maximum_filter1d(env, size=ahead, origin=-(ahead // 2))
    hit = (rise >= cfg.min_rise_db) & (env - bg >= cfg.min_rise_db) & (peak_ahead >= cfg.min_level_dbfs)
    idx = np.flatnonzero(hit)
    if idx.size == 0:
        return []
    starts = idx[np.concatenate([[True], np.diff(idx) > 1])]
    return starts.tolist()


def _refine_onset(hp_mono_abs: np.ndarray, frame: int, hop: int, win: int, sr_hz: int) -> int:
    """First sample whose high-passed magnitude reaches 20 % of the peak that follows."""
    lo = max(0, frame * hop - 2 * hop)
    hi = min(hp_mono_abs.size, frame * hop + win + int(0.010 * sr_hz))
    seg = hp_mono_abs[lo:hi]
    if seg.size == 0:
        return frame * hop
    above = np.flatnonzero(seg >= 0.2 * seg.max())
    return lo + int(above[0]) if above.size else frame * hop


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A transient the onset detector kept (echoes removed), before it is scored."""

    time_s: float  # onset, from the start of the track
    features: dict[str, float]


def _block_candidates(x: np.ndarray, sr: int, cfg: EventsConfig, track_db: float, offset: int
                      ) -> list[Candidate]:
    """Candidates of one stretch of audio (x: shape = (n_channels, n_samples), starting at
    sample ``offset`` of the track; negative: it starts with the lead-in)."""
    if x.shape[1] < int(0.01 * sr):
        return []
    env, hp, hop = envelope_db(x, sr, cfg)
    if env.size == 0:
        return []
    bg = background_db(env, cfg.hop_ms, cfg.background_window_s)
    hp_abs = np.abs(hp).max(axis=0)
    del hp
    win = max(hop, int(round(sr * cfg.window_ms / 1000.0)))
    min_gap = int(cfg.min_gap_ms / 1000.0 * sr)
    found: list[Candidate] = []
    kept_peaks: list[tuple[int, float]] = []  # (onset sample, envelope peak dB) of kept candidates
    for frame in _candidates(env, bg, cfg.hop_ms, cfg):
        onset = _refine_onset(hp_abs, frame, hop, win, sr)
        if kept_peaks and onset - kept_peaks[-1][0] < min_gap:
            continue
        pk_db = float(env[frame: frame + max(1, int(round(20.0 / cfg.hop_ms)))].max())
        if offset + onset < START_S * sr and not _decays(env[frame:], pk_db, cfg.hop_ms):
            continue  # the file begins inside a sustained sound, not with a bang
        f = describe(x, onset, env, bg, frame, cfg.hop_ms, sr)
        f["level_over_track_db"] = level_over_track_db(x, onset, sr, track_db)
        # a quieter onset soon after a louder one is its echo, unless the louder one is a
        # supersonic crack and this is the (darker) muzzle blast that follows it
        echo = any(onset - s <= cfg.echo_window_s * sr and pk_db <= p - cfg.echo_drop_db
                   and not (is_crack(c.features["centroid_hz"], c.features["duration_ms"], cfg) and f["centroid_hz"] < 0.6 * c.features["centroid_hz"])
                   for (s, p), c in zip(kept_peaks[-8:], found[-8:]))
        if echo:
            continue
        kept_peaks.append((onset, pk_db))
        found.append(Candidate((offset + onset) / sr, f))
    return found


def lead_in(n_channels: int, sr_hz: int, cfg: EventsConfig) -> np.ndarray:
    """The quiet taken before a track's first sample: about ``lead_in_s`` of faint noise (the
    same every time), shape = (n_channels, n_samples). Its length is a whole number of points
    of the background's grid, so that the envelope frames of the track fall where they would
    without it."""
    grid = BACKGROUND_STEP * _hop(sr_hz, cfg)
    n = int(round(cfg.lead_in_s * sr_hz / grid)) * grid
    return LEAD_IN_RMS * np.random.default_rng(0).standard_normal((n_channels, n))


def _decays(env_db: np.ndarray, peak_db: float, hop_ms: float) -> bool:
    """Whether the envelope from an onset on falls ``DECAY_DB`` below its peak within
    ``DECAY_S`` (or before the audio ends, when that comes sooner)."""
    return bool(np.any(env_db[: int(round(DECAY_S * 1000.0 / hop_ms))] <= peak_db - DECAY_DB))


def candidates(track: Track, cfg: EventsConfig) -> list[Candidate]:
    """Every candidate transient of one track, with its features.

    The track is read in blocks of ``block_s`` with ``BLOCK_CONTEXT_S`` of audio either side
    (longer than the background window, the echo window and the features' reach), so that
    memory stays bounded on hour-long recordings; a candidate belongs to the block its onset
    falls in."""
    x = track.audio_native
    sr = track.native_rate_hz
    n = x.shape[1]
    if n < int(0.01 * sr):
        return []
    track_db = track_level_db(x, sr, cfg.track_level_percentile)
    block = max(1, int(cfg.block_s * sr))
    ctx = int(BLOCK_CONTEXT_S * sr)
    out: list[Candidate] = []
    for start in range(0, n, block):
        lo = max(0, start - ctx)
        part, first = x[:, lo: min(n, start + block + ctx)], lo
        if lo == 0 and cfg.lead_in_s > 0:  # the quiet before the track's first sample
            quiet = lead_in(x.shape[0], sr, cfg).astype(part.dtype)
            part, first = np.concatenate([quiet, part], axis=1), -quiet.shape[1]
        found = _block_candidates(part, sr, cfg, track_db, first)
        out.extend(c for c in found if start <= round(c.time_s * sr) < start + block)
    return out


