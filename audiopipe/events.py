"""Gunshot-like transients: onsets at ~1 ms resolution on the native-rate audio, features,
a gunshot score, bursts with rate of fire, and supersonic crack / muzzle blast pairs.

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

The gunshot score is a probability: a logistic regression over eight features of each
candidate (``Classifier``, weights in ``models/gunshot_classifier.json``), trained by
``train/events.py`` on the real shots and look-alikes of shared/media (with phone-like
augmentations and real speech under them) and calibrated (Platt) on its cross-validation
grouped by source recording. Its two cut points come from that cross-validation too:
``possible_gunshot`` (and ``is_gunshot``: counted in bursts and the timeline) from the
threshold that best trades gunshot files found against look-alike files called, ``gunshot``
from the one at which at most 15 % of look-alike files are called. The features:

* ``impulsiveness_db`` (peak over background): shots are 35-70 dB above their surroundings.
* ``rise_time_ms`` (10 % to 90 % of the envelope peak, log scale): a muzzle blast rises in 1-3 ms.
* ``broadband`` (share of eight log-spaced bands, 250 Hz to Nyquist, that jump by 10 dB
  or more at the onset, i.e. a spectral flux): a shot excites every band at once.
* ``peak_dbfs``: near full scale for a shot within earshot; gain-dependent, so it counts little.
* ``flatness`` (spectral flatness, 300 Hz-8 kHz, first 50 ms, on a log scale): a blast is
  noise-like; knocks, slams and voiced speech are resonant (peaky spectra).
* ``tail_db`` (mean level of the first 50 ms relative to its loudest 5 ms): a burst's
  rounds are clicks followed by their own echoes; speech is sustained.
* ``attack_db`` (full-band energy of the first 2 ms over the 50 ms before): shots jump by
  25-50 dB; syllables, pump clacks and doors far less.
* ``level_over_track_db`` (full-band energy of the 50 ms after the onset over the track's
  loud level, the ``track_level_percentile`` of its 50-ms frame energies), bounded at 6 dB: a
  shot within earshot stands above the voices of the same recording; a click, a plosive or a
  knock in speech does not; louder than that says nothing more (slams near the phone are loud
  too). In a file that is mostly gunfire the reference is the gunfire itself (lower
  ``track_level_percentile`` for such files).

Rhythm: automatic fire is a train of rounds at a steady cyclic rate, which speech and
footsteps do not keep. After scoring, every chain of at least ``auto_min_shots`` events
(each with a score of at least ``rhythm_min_score``), every gap within ``auto_interval_s``
and the gaps' coefficient of variation (over their mean) at most ``auto_max_cv`` (the bounds
of ``fire_mode``'s "automatic", which asks it of the median gap, over the median) that holds
at least one event counted on its own gets ``rhythm_bonus`` added to its log-odds (the
score of an ``in_rhythm`` event is therefore above its calibrated value),
and its events are marked ``in_rhythm``: a round masked by a shout is still counted when a
round beside it is heard. The anchor matters: without it, five knocks 160 ms apart (rapid
banging on a door) became five shots of automatic fire. So does the level: the rounds of one
train come from one gun at one distance, and a masked round is heard louder, not softer, so a
chain's peak levels lie within ``rhythm_max_spread_db``. Without that, two syllables 160 ms
apart, 12-15 dB under a single shotgun shot that followed them, made a train of three.

Known limits, measured by ``bench/events.py``: the classifier separates shots from speech
well but shots from look-alikes poorly in recordings it has not heard (cross-validated on 30
recordings: at the ``gunshot`` cut, 52 % of the gunshot clips and 27 % of the look-alike
clips; fireworks, glass and some doors score like shots); a shot no louder than the voices
around it (shot-to-speech ratio 0 dB or less) is often missed, either as a candidate (its rise
is masked) or by the level term.
Fire mode (per burst): ``automatic`` when there are at least ``auto_min_shots`` shots, the
median interval lies in ``auto_interval_s`` (a cyclic rate of 300-1500 rounds/min) and the
intervals vary little (coefficient of variation at most ``auto_max_cv``);
``semi-automatic/single`` for a single shot or for intervals longer than the cyclic range;
``unknown`` otherwise (two close shots, or irregular close shots).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from . import models
from .config import EventsConfig
from .records import Burst, Event, Track

EPS = 1e-12
N_BANDS = 8
BLOCK_CONTEXT_S = 2.0  # audio read either side of a block
BACKGROUND_STEP = 10  # envelope frames per point of the background's coarse grid
LEAD_IN_RMS = 1e-4  # level of the quiet taken before a track (train/events.py pads its clips alike)
START_S = 0.02  # an onset this close to the start of a track rose from the lead-in ...
DECAY_S, DECAY_DB = 0.5, 20.0  # ... and is kept only if its sound falls this much within this time


def _db(power: np.ndarray | float) -> np.ndarray | float:
    return 10.0 * np.log10(np.asarray(power) + EPS)


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
    csum = np.concatenate([np.zeros((hp.shape[0], 1)), np.cumsum(hp.astype(np.float64) ** 2, axis=1)], axis=1)
    starts = np.arange(n_frames) * hop
    power = (csum[:, starts + win] - csum[:, starts]) / win
    return _db(power.max(axis=0)), hp, hop


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


@functools.lru_cache(maxsize=8)
def _band_matrix(sr_hz: int, n_fft: int) -> np.ndarray:
    """(N_BANDS, n_fft // 2 + 1) 0/1: the FFT bins of eight log-spaced bands, 250 Hz to Nyquist."""
    edges = np.geomspace(250.0, sr_hz / 2.0, N_BANDS + 1)
    f = np.fft.rfftfreq(n_fft, 1.0 / sr_hz)
    return np.array([(f >= a) & (f < b) for a, b in zip(edges[:-1], edges[1:])], dtype=np.float64)


def _features(x: np.ndarray, onset: int, env: np.ndarray, bg: np.ndarray, frame: int, hop_ms: float,
              sr_hz: int) -> dict[str, float]:
    """Describe one transient. x: shape = (n_channels, n_samples), raw native-rate audio."""
    n20 = int(0.020 * sr_hz)
    chan = int(np.argmax(np.abs(x[:, onset: onset + n20]).max(axis=1))) if x.shape[1] > onset else 0
    mono = x[chan]
    head = mono[onset: onset + n20]
    peak = float(np.abs(x[:, onset: onset + n20]).max()) if head.size else 0.0
    clipped = bool(np.any(np.abs(x[:, onset: onset + int(0.05 * sr_hz)]) >= 0.999))
    # spectrum of the first 20 ms after the onset
    if head.size >= 64:
        spec = np.abs(np.fft.rfft(head * np.hanning(head.size))) ** 2
        freqs = np.fft.rfftfreq(head.size, 1.0 / sr_hz)
        total = spec.sum() + EPS
        centroid = float((freqs * spec).sum() / total)
        bandwidth = float(np.sqrt(((freqs - centroid) ** 2 * spec).sum() / total))
        high_ratio = float(spec[freqs >= 2000.0].sum() / total)
    else:
        centroid = bandwidth = high_ratio = 0.0
    # spectral flux: bands whose energy jumps by >= 10 dB from the 20 ms before to the 20 ms after
    pre = mono[max(0, onset - n20): onset]
    if pre.size >= 64 and head.size >= 64:
        bands = _band_matrix(sr_hz, n20)

        def band_db(seg: np.ndarray) -> np.ndarray:
            return _db(bands @ (np.abs(np.fft.rfft(seg * np.hanning(seg.size), n=n20)) ** 2 / seg.size))
        broadband = float(np.mean(band_db(head) - band_db(pre) >= 10.0))
    else:
        broadband = 1.0  # at the very start of a file: no "before" to compare with
    # envelope shape from the detection frame
    look = env[frame: frame + int(round(1000.0 / hop_ms))]
    pk = int(np.argmax(look[: max(1, int(round(20.0 / hop_ms)))]))
    peak_db = float(look[pk])
    lin = 10 ** ((look[: pk + 1] - peak_db) / 10.0)
    t10 = int(np.argmax(lin >= 0.1))
    t90 = int(np.argmax(lin >= 0.9))
    rise_ms = max(hop_ms, (t90 - t10) * hop_ms)
    below = np.flatnonzero(look[pk:] <= peak_db - 20.0)
    duration_ms = float((below[0] if below.size else look.size - pk) * hop_ms + pk * hop_ms)
    tail = look[pk: pk + int(round(50.0 / hop_ms))]
    decay = float(np.polyfit(np.arange(tail.size) * hop_ms, tail, 1)[0]) if tail.size >= 5 else 0.0
    return {
        **_full_band_shape(mono, onset, sr_hz),
        "peak_dbfs": float(20.0 * math.log10(peak + EPS)),
        "rise_time_ms": rise_ms,
        "duration_ms": duration_ms,
        "centroid_hz": centroid,
        "bandwidth_hz": bandwidth,
        "high_band_ratio": high_ratio,
        "broadband": broadband,
        "impulsiveness_db": float(peak_db - bg[frame]),
        "decay_db_per_ms": decay,
        "clipped": clipped,
    }


def _full_band_shape(mono: np.ndarray, onset: int, sr_hz: int) -> dict[str, float]:
    """Full-band features over the 50 ms after the onset (mono: shape = (n_samples,)).

    attack_db: energy of the first 2 ms over that of the 50 ms before (capped at 60 dB).
    flatness: spectral flatness (geometric over arithmetic mean) from 300 Hz to 8 kHz: a
      blast is noise-like (flat); voiced speech and resonant knocks are peaky.
    low_band_ratio: share of energy below 300 Hz (the muzzle blast's boom).
    tail_db: mean level of the ten 5-ms frames over the loudest of the first four: near 0 for
      a sustained sound, very negative for a click.
    """
    n2, n5, n50 = int(0.002 * sr_hz), int(0.005 * sr_hz), int(0.050 * sr_hz)
    head = mono[onset: onset + n50]
    pre = mono[max(0, onset - n50): onset]
    if head.size < n50 // 2:
        return {"attack_db": 0.0, "flatness": 0.0, "low_band_ratio": 0.0, "tail_db": 0.0}
    attack = float(_db(np.mean(head[:n2] ** 2)) - (_db(np.mean(pre ** 2)) if pre.size else -120.0))
    spec = np.abs(np.fft.rfft(head * np.hanning(head.size))) ** 2
    freqs = np.fft.rfftfreq(head.size, 1.0 / sr_hz)
    band = spec[(freqs >= 300.0) & (freqs < min(8000.0, sr_hz / 2))] + 1e-20
    flatness = float(np.exp(np.mean(np.log(band))) / np.mean(band)) if band.size else 0.0
    frames = _db((head[: head.size // n5 * n5].astype(np.float64).reshape(-1, n5) ** 2).mean(axis=1))
    return {
        "attack_db": min(60.0, attack),
        "flatness": flatness,
        "low_band_ratio": float(spec[freqs < 300.0].sum() / (spec.sum() + EPS)),
        "tail_db": float(frames.mean() - frames[:4].max()),
    }


def track_level_db(x: np.ndarray, sr_hz: int, percentile: float) -> float:
    """The track's typical loud level: a percentile of its 50-ms frame energies (dBFS, the
    loudest channel per frame), read a minute at a time. x: shape = (n_channels, n_samples)."""
    n = int(0.05 * sr_hz)
    if x.shape[1] < n:
        return float(_db(np.mean(x.astype(np.float64) ** 2)))
    usable = x.shape[1] // n * n
    step = 1200 * n  # 60 s of frames
    levels = []
    for a in range(0, usable, step):
        # C order whatever the layout of x (a memory map is channel-interleaved): same sums, same bits
        frames = np.ascontiguousarray(x[:, a: min(usable, a + step)], dtype=np.float64).reshape(x.shape[0], -1, n)
        levels.append(_db((frames ** 2).mean(axis=2).max(axis=0)))
    return float(np.percentile(np.concatenate(levels), percentile))


def level_over_track_db(x: np.ndarray, onset: int, sr_hz: int, track_db: float) -> float:
    """Energy of the 50 ms after the onset (loudest channel) over the track's loud level."""
    head = np.ascontiguousarray(x[:, onset: onset + int(0.05 * sr_hz)], dtype=np.float64)
    return float(_db((head ** 2).mean(axis=1).max()) - track_db) if head.size else 0.0


def _logistic(z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-z)))


def _fire_mode(times: list[float], cfg: EventsConfig) -> tuple[float | None, float | None, str]:
    if len(times) < 2:
        return None, None, "semi-automatic/single"
    intervals = np.diff(times)
    med = float(np.median(intervals))
    rpm = 60.0 / med if med > 0 else None
    lo, hi = cfg.auto_interval_s
    cv = float(np.std(intervals) / med) if med > 0 else float("inf")
    if len(times) >= cfg.auto_min_shots and lo <= med <= hi and cv <= cfg.auto_max_cv:
        return med, rpm, "automatic"
    if med > hi:
        return med, rpm, "semi-automatic/single"
    return med, rpm, "unknown"


def group_bursts(events: list[Event], cfg: EventsConfig, track: int, first_burst_id: int = 0
                 ) -> tuple[list[Event], list[Burst]]:
    """Group gunshots closer than ``burst_gap_s`` into bursts; returns events with burst ids."""
    shots = [i for i, e in enumerate(events) if e.is_gunshot]
    groups: list[list[int]] = []
    for i in shots:
        if groups and events[i].time_s - events[groups[-1][-1]].time_s <= cfg.burst_gap_s:
            groups[-1].append(i)
        else:
            groups.append([i])
    out = list(events)
    bursts = []
    for n, members in enumerate(groups):
        bid = first_burst_id + n
        times = [events[i].time_s for i in members]
        med, rpm, mode = _fire_mode(times, cfg)
        bursts.append(Burst(bid, track, times[0], times[-1], len(members), med, rpm, mode))
        for i in members:
            out[i] = _replace(out[i], burst_id=bid)
    return out, bursts


def _replace(e: Event, **changes) -> Event:
    return dataclasses.replace(e, **changes)


def _is_crack(centroid_hz: float, duration_ms: float, cfg: EventsConfig) -> bool:
    """Short and bright: the N-wave of a bullet passing faster than sound."""
    return centroid_hz >= cfg.crack_min_centroid_hz and duration_ms <= cfg.crack_max_duration_ms


def _pair_cracks(events: list[Event], cfg: EventsConfig) -> list[Event]:
    """Merge a supersonic crack and the muzzle blast that follows it into one event.

    A crack is short (``crack_max_duration_ms``) and bright (centroid at least
    ``crack_min_centroid_hz``); the blast follows within ``crack_max_gap_s``, is darker
    (centroid below 60 % of the crack's) and no more than ``crack_max_drop_db`` louder than
    the crack: a bullet passing near the microphone is as loud as its muzzle blast or louder,
    whereas a click in speech a little before a shot is far quieter (without this, such a
    click took over the shot's time). The pair becomes one event timed at the crack (the
    first arrival), carrying both times and the distance range the gap implies:
    d = dt * c * v / (v - c) for a bullet at speed v passing close to the microphone and
    sound at speed c: an estimate that assumes a shot aimed near the microphone.
    """
    out: list[Event] = []
    i = 0
    c = cfg.speed_of_sound_m_s
    while i < len(events):
        e = events[i]
        nxt = events[i + 1] if i + 1 < len(events) else None
        if (nxt is not None and _is_crack(e.centroid_hz, e.duration_ms, cfg)
                and 0 < nxt.time_s - e.time_s <= cfg.crack_max_gap_s
                and nxt.centroid_hz < 0.6 * e.centroid_hz and nxt.is_gunshot
                and e.peak_dbfs >= nxt.peak_dbfs - cfg.crack_max_drop_db):
            dt = nxt.time_s - e.time_s
            dists = [dt * c * v / (v - c) for v in cfg.bullet_speed_m_s]
            out.append(_replace(nxt, time_s=e.time_s, crack_time_s=e.time_s, blast_time_s=nxt.time_s,
                                distance_m_min=min(dists), distance_m_max=max(dists)))
            i += 2
            continue
        out.append(e)
        i += 1
    return out


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
        f = _features(x, onset, env, bg, frame, cfg.hop_ms, sr)
        f["level_over_track_db"] = level_over_track_db(x, onset, sr, track_db)
        # a quieter onset soon after a louder one is its echo, unless the louder one is a
        # supersonic crack and this is the (darker) muzzle blast that follows it
        echo = any(onset - s <= cfg.echo_window_s * sr and pk_db <= p - cfg.echo_drop_db
                   and not (_is_crack(c.features["centroid_hz"], c.features["duration_ms"], cfg) and f["centroid_hz"] < 0.6 * c.features["centroid_hz"])
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


class Classifier:
    """The gunshot classifier: a logistic regression over the candidates' features,
    calibrated on grouped cross-validation (``train/events.py`` writes it; see its JSON for
    the data, the folds and the figures it was chosen on).

    score(f) = 1 / (1 + exp(-(a * (w . (v(f) - mean) / scale + b) + c))), where v(f) is the
    feature vector (``FEATURES``; log scales and bounds applied by ``vector``) and (a, c) the
    Platt calibration of the out-of-fold scores. ``threshold`` and ``possible_threshold``
    are the cut points chosen on the cross-validation.
    """

    def __init__(self, spec: dict):
        self.features: list[str] = spec["features"]
        self.mean = np.asarray(spec["mean"], np.float64)
        self.scale = np.asarray(spec["scale"], np.float64)
        self.coef = np.asarray(spec["coef"], np.float64)
        self.intercept = float(spec["intercept"])
        self.platt = (float(spec["calibration"]["a"]), float(spec["calibration"]["b"]))
        self.threshold = float(spec["threshold"])
        self.possible_threshold = float(spec["possible_threshold"])

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def logit(self, f: dict[str, float]) -> float:
        z = float(((vector(f, self.features) - self.mean) / self.scale) @ self.coef + self.intercept)
        return self.platt[0] * z + self.platt[1]

    def score(self, f: dict[str, float]) -> float:
        return _logistic(self.logit(f))


def vector(f: dict[str, float], names: list[str]) -> np.ndarray:
    """The classifier's inputs: a candidate's features, some on a log scale (``log_`` names)
    and the level over the track bounded at 6 dB (louder than the voices by more says nothing more:
    slams near the phone are loud too)."""
    v = dict(f)
    v["log_flatness"] = math.log10(f["flatness"] + 1e-4)
    v["log_rise_time_ms"] = math.log10(f["rise_time_ms"])
    v["log_duration_ms"] = math.log10(max(1.0, f["duration_ms"]))
    v["level_over_track_db"] = min(6.0, f["level_over_track_db"])
    return np.array([float(v[n]) for n in names], np.float64)


@functools.lru_cache(maxsize=4)
def _classifier(path: str, sha256: str) -> Classifier:
    return Classifier.load(path)


def classifier(ref: models.ModelRef) -> Classifier:
    """The classifier a resolved model names (``models.resolve(cfg.classifier)``: the
    registry's, verified against its hash, or a JSON file written by ``train/events.py``)."""
    path = Path(ref.path)
    path = path if path.is_file() else path / next(iter(ref.sha256))
    return _classifier(str(path), next(iter(ref.sha256.values())))


def thresholds(cfg: EventsConfig, model: Classifier) -> tuple[float, float]:
    """(gunshot, possible gunshot) thresholds: the config's where set, else the model's. An
    event from the possible threshold up is counted (``is_gunshot``: bursts, timeline)."""
    t = model.threshold if cfg.gunshot_threshold is None else cfg.gunshot_threshold
    p = model.possible_threshold if cfg.possible_threshold is None else cfg.possible_threshold
    return t, min(p, t)


def category(score: float, cut: tuple[float, float]) -> str:
    return "gunshot" if score >= cut[0] else "possible_gunshot" if score >= cut[1] else "other_impulsive"


def _event(c: Candidate, track_index: int, score: float, cut: tuple[float, float]) -> Event:
    f = c.features
    return Event(
        track=track_index, time_s=c.time_s, peak_dbfs=f["peak_dbfs"],
        rise_time_ms=f["rise_time_ms"], duration_ms=f["duration_ms"], centroid_hz=f["centroid_hz"],
        bandwidth_hz=f["bandwidth_hz"], high_band_ratio=f["high_band_ratio"], broadband=f["broadband"],
        impulsiveness_db=f["impulsiveness_db"], decay_db_per_ms=f["decay_db_per_ms"],
        attack_db=f["attack_db"], flatness=f["flatness"], low_band_ratio=f["low_band_ratio"],
        tail_db=f["tail_db"], level_over_track_db=f["level_over_track_db"], clipped=f["clipped"],
        gunshot_score=score, is_gunshot=score >= cut[1], category=category(score, cut))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def rhythm_chains(times: list[float], cfg: EventsConfig, levels_db: list[float] | None = None) -> list[list[int]]:
    """Chains of indices into ``times`` (sorted, seconds) that keep the rhythm of automatic
    fire: each gap within ``auto_interval_s``, the gaps' coefficient of variation at most
    ``auto_max_cv``, at least ``auto_min_shots`` long, and (with ``levels_db``, each time's
    peak level) the loudest and the quietest member at most ``rhythm_max_spread_db`` apart.
    A chain is grown greedily from every start; a time that would break the rhythm is stepped
    over, not ended on."""
    lo, hi = cfg.auto_interval_s
    chains = []
    for a in range(len(times)):
        chain = [a]
        for b in range(a + 1, len(times)):
            gap = times[b] - times[chain[-1]]
            if gap > hi:
                break
            if gap < lo:
                continue
            gaps = np.diff([times[k] for k in chain] + [times[b]])
            if gaps.size >= 2 and np.std(gaps) / np.mean(gaps) > cfg.auto_max_cv:
                continue
            if levels_db is not None:
                heard = [levels_db[k] for k in chain] + [levels_db[b]]
                if max(heard) - min(heard) > cfg.rhythm_max_spread_db:
                    continue
            chain.append(b)
        if len(chain) >= cfg.auto_min_shots:
            chains.append(chain)
    return chains


def _apply_rhythm(events: list[Event], cfg: EventsConfig, cut: tuple[float, float]) -> list[Event]:
    """Raise the score of the events that keep the rhythm of automatic fire with at least one
    event that is a gunshot on its own (see the module docstring); events below
    ``rhythm_min_score`` take no part."""
    if cfg.rhythm_bonus <= 0:
        return events
    idx = [i for i, e in enumerate(events) if e.gunshot_score >= cfg.rhythm_min_score]
    members = {idx[k] for chain in rhythm_chains([events[i].time_s for i in idx], cfg,
                                                  [events[i].peak_dbfs for i in idx])
               if any(events[idx[k]].is_gunshot for k in chain) for k in chain}
    out = list(events)
    for i in members:
        score = _logistic(_logit(events[i].gunshot_score) + cfg.rhythm_bonus)
        out[i] = _replace(events[i], gunshot_score=score, is_gunshot=score >= cut[1],
                          category=category(score, cut), in_rhythm=True)
    return out


def detect(track: Track, cfg: EventsConfig, model: Classifier | None = None, first_burst_id: int = 0
           ) -> tuple[list[Event], list[Burst]]:
    """All gunshot-like events of one track (``candidates``), scored by the classifier
    (``model``, else the one ``cfg.classifier`` names), raised by the rhythm of automatic
    fire, crack and blast paired, grouped into bursts."""
    model = model or classifier(models.resolve(cfg.classifier))
    cut = thresholds(cfg, model)
    evs = [_event(c, track.index, model.score(c.features), cut) for c in candidates(track, cfg)]
    evs = _pair_cracks(_apply_rhythm(evs, cfg, cut), cfg)
    return group_bursts(evs, cfg, track.index, first_burst_id)
