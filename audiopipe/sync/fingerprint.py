"""A track's audio fingerprint (``Fingerprint``, ``compute``): what lets two recordings of one
moment be found and lined up without their audio.

Two parts, both from the 16-kHz track's telephone band (300-3400 Hz: what every copy keeps,
an 8-kHz phone call included), read a minute at a time:

* landmarks (as in Wang's Shazam paper): the strongest peaks of a log spectrogram (64-ms
  frames every 16 ms), each paired with a few that follow it; a pair's two frequencies and
  the time between them are its ``hash``, its first peak's frame its ``time``. The same hash
  at times ``t_a`` and ``t_b`` in two files votes for the offset ``t_a - t_b``;
* an onset envelope every 2 ms (the rise of the band's log level), against which a candidate
  offset is refined by cross-correlation to a fraction of a millisecond; and the level itself
  every 20 ms, on which copies of one recording agree and two microphones do not.

About 100 KB a minute, stored beside the file's result (``sync.npz``) so that a rerun matches
new files against old ones without decoding them again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

RATE_HZ = 16000
BAND_HZ = (300.0, 3400.0)
ENV_HOP = 32  # samples: an envelope value every 2 ms
ENV_RATE_HZ = RATE_HZ / ENV_HOP
N_FFT, HOP = 1024, 256  # landmarks: 64-ms frames every 16 ms
FRAME_S = HOP / RATE_HZ
PEAK_TIME, PEAK_FREQ = 7, 9  # a peak is the largest within +-PEAK_TIME frames and +-PEAK_FREQ bins
PEAKS_PER_S = 30
FAN_OUT = 5  # a peak is paired with the next FAN_OUT peaks ...
MAX_DT = 63  # ... at most this many frames later (1 s)
BLOCK_S = 60.0
LEVEL_STEP = 10  # the level contour: every 20 ms
FLOOR_POWER = 1e-7  # -70 dBFS: below it, a codec's silence and the original's hiss are one level


@dataclass
class Fingerprint:
    """One track's fingerprint. hashes, times: the landmarks (int64, frame of the first peak,
    in the track's own time); envelope: float16 at ``ENV_RATE_HZ``; duration_s: the track's length."""

    hashes: np.ndarray
    times: np.ndarray
    envelope: np.ndarray
    duration_s: float
    start_s: float = 0.0  # where the track's first sample plays on its file's timeline
    level: np.ndarray | None = None  # the band's log level every 20 ms (float16): copies of one recording agree on it


def _band_sos() -> np.ndarray:
    return signal.butter(4, BAND_HZ, btype="band", fs=RATE_HZ, output="sos")


def _envelope(audio_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The band's onset envelope every 2 ms (the positive change of its log level), and its
    log level every 20 ms (``LEVEL_STEP`` envelope samples)."""
    sos, zi = _band_sos(), None
    levels, powers = [], []
    step = int(BLOCK_S * RATE_HZ) // ENV_HOP * ENV_HOP
    for a in range(0, audio_16k.size, step):
        x = audio_16k[a: a + step].astype(np.float64)
        if zi is None:
            zi = signal.sosfilt_zi(sos) * 0.0
        y, zi = signal.sosfilt(sos, x, zi=zi)
        n = y.size // ENV_HOP
        power = (y[: n * ENV_HOP].reshape(n, ENV_HOP) ** 2).mean(axis=1)
        levels.append(10 * np.log10(power + FLOOR_POWER))
        powers.append(power)
    level = np.concatenate(levels) if levels else np.zeros(0)
    power = np.concatenate(powers) if powers else np.zeros(0)
    m = power.size // LEVEL_STEP
    coarse = 10 * np.log10(power[: m * LEVEL_STEP].reshape(m, LEVEL_STEP).mean(axis=1) + FLOOR_POWER)
    return np.maximum(np.diff(level, prepend=level[:1]), 0.0).astype(np.float16), coarse.astype(np.float16)


def _peaks(audio_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frame, bin) of the spectrogram's landmark peaks, in time order (none in less than one
    frame: a file that short, or the last few samples past a block)."""
    if audio_16k.size < N_FFT:
        return np.zeros(0, int), np.zeros(0, int)
    f, _, z = signal.stft(audio_16k, RATE_HZ, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False)
    band = (f >= BAND_HZ[0]) & (f <= BAND_HZ[1])
    spec = 20 * np.log10(np.abs(z[band]) + 1e-9)  # (bins, frames)
    if spec.shape[1] == 0:
        return np.zeros(0, int), np.zeros(0, int)
    local = ndimage.maximum_filter(spec, size=(2 * PEAK_FREQ + 1, 2 * PEAK_TIME + 1), mode="constant", cval=-1e9)
    floor = np.median(spec) + 10.0
    b, t = np.nonzero((spec == local) & (spec > floor))
    strength = spec[b, t]
    # at most PEAKS_PER_S a second: the strongest in each second
    keep = []
    per = int(round(1.0 / FRAME_S))
    for sec in np.unique(t // per):
        idx = np.flatnonzero(t // per == sec)
        keep.extend(idx[np.argsort(-strength[idx])[:PEAKS_PER_S]])
    keep = np.array(sorted(keep, key=lambda i: (t[i], b[i])), int)
    return t[keep], b[keep]


def _landmarks(frames: np.ndarray, bins: np.ndarray, offset_frames: int) -> tuple[np.ndarray, np.ndarray]:
    hashes, times = [], []
    for i in range(frames.size):
        for j in range(i + 1, min(frames.size, i + 1 + FAN_OUT)):
            dt = frames[j] - frames[i]
            if 0 < dt <= MAX_DT:
                hashes.append((int(bins[i]) << 16) | (int(bins[j]) << 6) | int(dt))
                times.append(int(frames[i]) + offset_frames)
    return np.array(hashes, np.int64), np.array(times, np.int64)


def compute(audio_16k: np.ndarray, start_s: float = 0.0) -> Fingerprint:
    """The fingerprint of one track's 16-kHz mono audio (a minute at a time: an hour is never
    held as a spectrogram)."""
    audio_16k = np.asarray(audio_16k, np.float32)
    step = int(BLOCK_S * RATE_HZ) // HOP * HOP
    hashes, times = [], []
    for a in range(0, audio_16k.size, step):
        block = audio_16k[a: a + step + N_FFT]
        frames, bins = _peaks(block)
        inside = frames < step // HOP  # the overlap's peaks belong to the next block
        h, t = _landmarks(frames[inside] if a + step < audio_16k.size else frames,
                          bins[inside] if a + step < audio_16k.size else bins, a // HOP)
        hashes.append(h)
        times.append(t)
    envelope, level = _envelope(audio_16k)
    return Fingerprint(np.concatenate(hashes) if hashes else np.zeros(0, np.int64),
                       np.concatenate(times) if times else np.zeros(0, np.int64),
                       envelope, audio_16k.size / RATE_HZ, start_s, level)
