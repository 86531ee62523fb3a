"""Evaluation material for the events stage, made from the real recordings only.

Real gunshots and real look-alikes placed at known times into real speech, at a given
shot-to-speech ratio (SNR, dB of the shot clip's RMS over the speech RMS), optionally with
reverberation (an exponentially decaying noise impulse response), over low noise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
RATE_HZ = 44100


@dataclass
class Mixture:
    name: str
    audio: np.ndarray  # shape = (1, n_samples), RATE_HZ
    shots_s: list[float]
    confusers_s: list[float]


def truth_table() -> list[dict]:
    with open(ROOT / "bench" / "events_truth.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    mono = x.mean(axis=1)
    return librosa.resample(mono, orig_sr=sr, target_sr=RATE_HZ) if sr != RATE_HZ else mono


def bed(names: list[str], seconds: float) -> np.ndarray:
    """Speech recordings end to end, repeated to ``seconds``; no names: a silent bed."""
    if not names:
        return np.zeros(int(seconds * RATE_HZ), np.float32)
    parts = [load(MEDIA / "speech" / n) for n in names]
    x = np.concatenate(parts)
    reps = int(np.ceil(seconds * RATE_HZ / x.size))
    return np.tile(x, reps)[: int(seconds * RATE_HZ)]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)) + 1e-12)


def loud_rms(x: np.ndarray) -> float:
    """RMS over the 20-ms stretches (at 16 kHz) within 20 dB of the loudest: the sound, not its
    silences."""
    n = x.size // 320
    if n == 0:
        return float(np.sqrt(np.mean(x ** 2) + 1e-12))
    p = (x[: n * 320].astype(np.float64).reshape(n, 320) ** 2).mean(axis=1)
    return float(np.sqrt(p[p >= p.max() / 100].mean() + 1e-12))


def mixed_over(bed: np.ndarray, sound: np.ndarray, at_s: float, over_db: float, rate_hz: int = 16000) -> np.ndarray:
    """A float64 copy of ``bed`` with ``sound`` added from ``at_s`` (cut at the bed's end),
    ``over_db`` over the bed there (``loud_rms`` of each over the stretch the sound covers)."""
    out = np.array(bed, np.float64)
    a = int(at_s * rate_hz)
    sound = sound[: out.size - a]
    out[a: a + sound.size] += 10 ** (over_db / 20) * loud_rms(out[a: a + sound.size]) / loud_rms(sound) * sound
    return out


def reverb(x: np.ndarray, rng: np.random.Generator, rt60_s: float = 0.4, drr_db: float = 0.0,
           rate_hz: int = RATE_HZ, tail_kept: float = 0.25) -> np.ndarray:
    """A direct path plus a diffuse tail (exponentially decaying noise starting 2 ms later)
    whose energy is ``drr_db`` below the direct sound's: a phone some metres from the
    source in a reverberant street or room. The impulse response has unit energy; the output
    keeps ``tail_kept`` of the reverberation time after the input's end."""
    n = int(rt60_s * rate_hz)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail ** 2))
    ir = np.zeros(n + int(0.002 * rate_hz))
    ir[0] = 1.0
    ir[-n:] += tail
    ir /= np.sqrt(np.sum(ir ** 2))
    return np.convolve(x, ir)[: x.size + int(n * tail_kept)]


def mixtures(bed_names: list[str], snrs_db: list[float], seed: int, with_reverb: bool = True) -> list[Mixture]:
    """One mixture per (gunshot clip or confuser clip, SNR, reverb on/off)."""
    rng = np.random.default_rng(seed)
    speech = bed(bed_names, 60.0)
    if bed_names:
        speech *= 10 ** (-24 / 20) / _rms(speech)
    out = []
    for row in truth_table():
        clip = load(MEDIA / "events" / row["file"])
        onsets = [float(t) for t in row["onsets_s"].split()] if row["onsets_s"] else []
        for snr in snrs_db:
            for rev in ([False, True] if with_reverb else [False]):
                start = int(rng.uniform(2.0, 50.0) * RATE_HZ)
                mix = speech[start - 2 * RATE_HZ: start + 6 * RATE_HZ].copy()
                mix += 10 ** (-60 / 20) * rng.standard_normal(mix.size)
                src = reverb(clip, rng) if rev else clip
                src = src * (10 ** ((snr - 24) / 20) / _rms(clip))  # speech RMS is -24 dBFS
                at = 2 * RATE_HZ
                mix[at: at + src.size] += src[: mix.size - at]
                peak = np.abs(mix).max()
                if peak > 1.0:  # a phone clips; keep the scene, as a phone would not
                    mix = np.clip(mix, -1.0, 1.0)
                times = [2.0 + t for t in onsets]
                name = f"{row['file']}@{snr:+.0f}dB{'+rev' if rev else ''}"
                if row["kind"] == "gunshot":
                    out.append(Mixture(name, mix[None, :].astype(np.float32), times, []))
                else:
                    out.append(Mixture(name, mix[None, :].astype(np.float32), [], [2.0]))
    return out


def speech_only(names: list[str]) -> list[Mixture]:
    return [Mixture(n, load(MEDIA / "speech" / n)[None, :], [], []) for n in names]
