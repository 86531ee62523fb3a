"""Features of a candidate transient, the classifier's inputs (``describe``), and the track's
loud level they are measured against. The features:

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
"""

from __future__ import annotations

import functools
import math

import numpy as np

EPS = 1e-12
N_BANDS = 8


def db(power: np.ndarray | float) -> np.ndarray | float:
    return 10.0 * np.log10(np.asarray(power) + EPS)


@functools.lru_cache(maxsize=64)
def _hann(n: int) -> np.ndarray:
    """np.hanning(n), made once per length (four windows a candidate, thousands of candidates)."""
    w = np.hanning(n)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=8)
def _band_matrix(sr_hz: int, n_fft: int) -> np.ndarray:
    """(N_BANDS, n_fft // 2 + 1) 0/1: the FFT bins of eight log-spaced bands, 250 Hz to Nyquist."""
    edges = np.geomspace(250.0, sr_hz / 2.0, N_BANDS + 1)
    f = np.fft.rfftfreq(n_fft, 1.0 / sr_hz)
    return np.array([(f >= a) & (f < b) for a, b in zip(edges[:-1], edges[1:])], dtype=np.float64)


def describe(x: np.ndarray, onset: int, env: np.ndarray, bg: np.ndarray, frame: int, hop_ms: float,
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
        spec = np.abs(np.fft.rfft(head * _hann(head.size))) ** 2
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
            return db(bands @ (np.abs(np.fft.rfft(seg * _hann(seg.size), n=n20)) ** 2 / seg.size))
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
    attack = float(db(np.mean(head[:n2] ** 2)) - (db(np.mean(pre ** 2)) if pre.size else -120.0))
    spec = np.abs(np.fft.rfft(head * _hann(head.size))) ** 2
    freqs = np.fft.rfftfreq(head.size, 1.0 / sr_hz)
    band = spec[(freqs >= 300.0) & (freqs < min(8000.0, sr_hz / 2))] + 1e-20
    flatness = float(np.exp(np.mean(np.log(band))) / np.mean(band)) if band.size else 0.0
    frames = db((head[: head.size // n5 * n5].astype(np.float64).reshape(-1, n5) ** 2).mean(axis=1))
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
        return float(db(np.mean(x.astype(np.float64) ** 2)))
    usable = x.shape[1] // n * n
    step = 1200 * n  # 60 s of frames
    levels = []
    for a in range(0, usable, step):
        # C order whatever the layout of x (a memory map is channel-interleaved): same sums, same bits
        frames = np.ascontiguousarray(x[:, a: min(usable, a + step)], dtype=np.float64).reshape(x.shape[0], -1, n)
        levels.append(db((frames ** 2).mean(axis=2).max(axis=0)))
    return float(np.percentile(np.concatenate(levels), percentile))


def level_over_track_db(x: np.ndarray, onset: int, sr_hz: int, track_db: float) -> float:
    """Energy of the 50 ms after the onset (loudest channel) over the track's loud level."""
    head = np.ascontiguousarray(x[:, onset: onset + int(0.05 * sr_hz)], dtype=np.float64)
    return float(db((head ** 2).mean(axis=1).max()) - track_db) if head.size else 0.0


