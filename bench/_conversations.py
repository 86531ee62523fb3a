"""Built conversations with a known truth, for choosing and checking the diarization settings.

Voices: the three speakers of the AMI ES2004 clip who talk at length, cut from their own
headset channels (``ami_es2004_sources/``) where the clip's RTTM has them alone, and nine
single-speaker recordings of ``speech/`` (jfk, es, de, it, ar, hy, the Russian lecturer, the
MIT-licence reader's English half, the hotwords phrase). None of the voices of the other
scored diarization clips (sample, dev00/dev01, three_speakers) is used, so those stay an
independent check.

Each file is drawn from a seed: 2-6 speakers, in some files one or two of them speak exactly
once for 1-4 s ("brief"), with or without overlap (a turn starting 0.3-1.5 s before the last
one ends), short (about 30 s) or long (about 10 min, the voices' material reused at other
offsets). Every turn is brought to one loudness (-26 dBFS RMS +/- 4 dB) over a faint noise
floor. The truth of a turn is where Silero VAD (faster-whisper's) finds speech in the clean
piece before mixing, so pauses inside a turn are not counted as speech.

``build(out_dir)`` writes ``<name>.wav`` and ``<name>.rttm`` for every file of ``SPECS`` and
returns their descriptions; the files are made again only when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
RATE_HZ = 16000

# voice -> (file, [(start_s, end_s), ...] where that voice alone speaks)
_ES2004 = MEDIA / "diarization" / "ami_es2004_sources"
_SPEECH = MEDIA / "speech"
VOICES: dict[str, tuple[Path, list[tuple[float, float]]]] = {
    "FEE013": (_ES2004 / "FEE013.wav", [(7.5, 18.5), (19.0, 22.3), (22.7, 25.6), (25.9, 27.3)]),
    "FEE016": (_ES2004 / "FEE016.wav", [(0.0, 2.55), (3.0, 5.15), (29.8, 34.95), (35.3, 37.05), (37.8, 42.1)]),
    "MEO015": (_ES2004 / "MEO015.wav", [(44.5, 53.75), (56.0, 60.0)]),
    "jfk": (_SPEECH / "jfk_en.flac", [(0.2, 10.8)]),
    "es": (_SPEECH / "es_01.wav", [(0.2, 8.5)]),
    "de": (_SPEECH / "de_01.wav", [(0.3, 5.2)]),
    "it": (_SPEECH / "it_01.wav", [(0.2, 5.5)]),
    "ar": (_SPEECH / "ar_01.wav", [(0.2, 10.0)]),
    "hy": (_SPEECH / "hy_01.wav", [(0.3, 3.6)]),
    "ru": (_SPEECH / "ru_lecture.wav", [(0.0, 60.0)]),
    "mit": (_SPEECH / "multilingual_en_de.mp3", [(0.0, 29.5)]),
    "hot": (_SPEECH / "hotwords_en.mp3", [(0.0, 4.0)]),
}


@dataclass(frozen=True)
class Spec:
    name: str
    speakers: int
    brief: int  # speakers who speak exactly once, 1-4 s
    overlap: bool
    duration_s: float
    seed: int


def _specs() -> list[Spec]:
    out, seed = [], 100
    for n in (2, 3, 4, 5, 6):
        for brief in (0, 1 if n < 4 else 2):
            for overlap in (False, True):
                seed += 1
                out.append(Spec(f"conv_{n}spk_b{brief}_{'ov' if overlap else 'no'}_30s", n, brief, overlap, 30.0, seed))
    out.append(Spec("conv_4spk_b1_no_600s", 4, 1, False, 600.0, 201))
    out.append(Spec("conv_5spk_b2_ov_600s", 5, 2, True, 600.0, 202))
    return out


SPECS = _specs()

_cache: dict[str, np.ndarray] = {}


def _voice(name: str) -> np.ndarray:
    if name not in _cache:
        import librosa

        x, _ = librosa.load(str(VOICES[name][0]), sr=RATE_HZ, mono=True)
        _cache[name] = x.astype(np.float32)
    return _cache[name]


def _piece(rng: np.random.Generator, voice: str, dur_s: float) -> np.ndarray:
    """``dur_s`` (or as much as the longest stretch holds) of one voice, from a random offset."""
    stretches = VOICES[voice][1]
    fits = [s for s in stretches if s[1] - s[0] >= dur_s] or [max(stretches, key=lambda s: s[1] - s[0])]
    a, b = fits[int(rng.integers(len(fits)))]
    dur_s = min(dur_s, b - a)
    start = a + float(rng.uniform(0, b - a - dur_s))
    x = _voice(voice)[int(start * RATE_HZ): int((start + dur_s) * RATE_HZ)]
    rms = float(np.sqrt(np.mean(x ** 2))) + 1e-9
    return x / rms * 10 ** ((-26 + float(rng.uniform(-4, 4))) / 20)


def _speech_of(piece: np.ndarray) -> list[tuple[float, float]]:
    """Where Silero VAD hears speech in a clean piece (seconds from its start)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    ts = get_speech_timestamps(piece, VadOptions(min_silence_duration_ms=250, speech_pad_ms=30))
    return [(t["start"] / RATE_HZ, t["end"] / RATE_HZ) for t in ts]


def make(spec: Spec) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """(audio at 16 kHz, truth turns (start_s, end_s, speaker)) of one built conversation."""
    rng = np.random.default_rng(spec.seed)
    voices = list(rng.choice(sorted(VOICES), size=spec.speakers, replace=False))
    brief = voices[: spec.brief]
    main = voices[spec.brief:]
    # the order of turns: main speakers take turns (never twice in a row), each brief speaker
    # once, somewhere after the first two turns
    n_turns = max(len(main) + 2, int(spec.duration_s / 4.5))
    order: list[str] = []
    for i in range(n_turns):
        choices = [v for v in main if not order or v != order[-1]] if len(main) > 1 else main
        # every main speaker gets a turn early on, then at random
        missing = [v for v in main if v not in order]
        order.append(missing[0] if missing and i >= 1 else str(rng.choice(choices)))
    for b in brief:
        order.insert(int(rng.integers(2, len(order))), b)
    total = int((spec.duration_s + 30) * RATE_HZ)
    mix = np.zeros(total, np.float32)
    truth: list[tuple[float, float, str]] = []
    t = 0.5
    spoken: set[str] = set()
    for voice in order:
        if t >= spec.duration_s and voice in spoken:
            continue  # past the length: only the turns of voices not heard yet
        dur = float(rng.uniform(1.0, 4.0)) if voice in brief else float(rng.uniform(2.0, 8.0))
        piece = _piece(rng, voice, dur)
        if spec.overlap and truth and rng.random() < 0.4:
            t = max(truth[-1][0] + 0.5, t - float(rng.uniform(0.3, 1.5)))
        a = int(t * RATE_HZ)
        if a + piece.size > total:
            break
        mix[a: a + piece.size] += piece
        truth += [(round(t + s, 3), round(t + e, 3), voice) for s, e in _speech_of(piece)]
        spoken.add(voice)
        t += piece.size / RATE_HZ + float(rng.uniform(0.2, 1.0))
        if t >= spec.duration_s and spoken == set(voices):
            break
    end = int(min(total, (t + 0.5) * RATE_HZ))
    mix = mix[:end] + rng.normal(0, 10 ** (-60 / 20), end).astype(np.float32)
    return np.clip(mix, -1, 1), truth


def write_rttm(path: Path, uri: str, turns: list[tuple[float, float, str]]) -> None:
    path.write_text("".join(f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> {spk} <NA> <NA>\n"
                            for a, b, spk in turns))


def build(out_dir: Path) -> list[Spec]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        wav, rttm = out_dir / f"{spec.name}.wav", out_dir / f"{spec.name}.rttm"
        if wav.exists() and rttm.exists():
            continue
        audio, truth = make(spec)
        sf.write(wav, audio, RATE_HZ, subtype="PCM_16")
        write_rttm(rttm, spec.name, truth)
    return SPECS


if __name__ == "__main__":
    for s in build(ROOT / "bench" / "out" / "conversations"):
        print(s)
