"""The speech bench's evidence set, built from the shared recordings, with its language truth.

- ``codeswitch.wav``: 17 turns of 1-11 s in six languages (en, de, es, it, ar, ru) cut from
  the real clips, 0.4 s apart; the Russian lecturer comes back between the others, and one
  speaker (the MIT licence reader) speaks English and then German.
- ``meeting_4spk_30s.wav``: the first 30 s of the AMI 4-speaker clip (English).
- the scenario video, ``ru_lecture.wav``, ``multilingual_en_de.mp3``, AMI ``dev01.wav``.

``pieces()`` gives stretches of one voice in one known language (every single-language
stretch of the shared speech and diarization clips), cut into 2-3 turns as diarization cuts
an utterance at short pauses, for the language evidence on short turns.

``truth(name)`` gives (start_s, end_s, language) stretches; a turn is scored by the truth
stretch it overlaps most.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
SPEECH = MEDIA / "speech"
RATE_HZ = 16000
GAP_S = 0.4

# (source, language, speaker, offset_s, duration_s)
CODESWITCH = [
    ("ru_lecture.wav", "ru", "ru", 0.0, 2.4),
    ("jfk_en.flac", "en", "jfk", 0.3, 3.2),
    ("ru_lecture.wav", "ru", "ru", 5.5, 4.0),
    ("es_01.wav", "es", "es", 0.3, 2.0),
    ("multilingual_en_de.mp3", "en", "mit", 0.0, 6.0),
    ("ar_01.wav", "ar", "ar", 0.5, 3.0),
    ("ru_lecture.wav", "ru", "ru", 10.0, 1.5),
    ("de_01.wav", "de", "de", 0.6, 4.0),
    ("it_01.wav", "it", "it", 0.3, 5.0),
    ("multilingual_en_de.mp3", "de", "mit", 31.0, 8.0),
    ("ru_lecture.wav", "ru", "ru", 15.0, 11.0),
    ("es_01.wav", "es", "es", 2.3, 1.2),
    ("jfk_en.flac", "en", "jfk", 3.5, 7.0),
    ("ar_01.wav", "ar", "ar", 4.0, 5.0),
    ("multilingual_en_de.mp3", "en", "mit", 10.0, 1.0),
    ("ru_lecture.wav", "ru", "ru", 30.0, 3.0),
    ("multilingual_en_de.mp3", "de", "mit", 45.0, 10.0),
]


def _load(path: Path) -> np.ndarray:
    import librosa

    x, _ = librosa.load(str(path), sr=RATE_HZ, mono=True)
    return x.astype(np.float32)


def build(out_dir: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Write the evidence set into ``out_dir``; returns the truth of every file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources: dict[str, np.ndarray] = {}
    pieces, truth, t = [], [], 0.0
    for name, lang, _speaker, offset_s, dur_s in CODESWITCH:
        x = sources.setdefault(name, _load(SPEECH / name))
        a = int(offset_s * RATE_HZ)
        cut = x[a:a + int(dur_s * RATE_HZ)]
        cut = cut / max(1e-6, float(np.sqrt(np.mean(cut ** 2)))) * 0.06  # one loudness for every voice
        pieces += [cut, np.zeros(int(GAP_S * RATE_HZ), np.float32)]
        truth.append((round(t, 3), round(t + cut.size / RATE_HZ, 3), lang))
        t += cut.size / RATE_HZ + GAP_S
    sf.write(out_dir / "codeswitch.wav", np.concatenate(pieces), RATE_HZ, subtype="PCM_16")
    meeting, rate = sf.read(MEDIA / "diarization" / "ami_es2004_4spk.wav", dtype="float32")
    sf.write(out_dir / "meeting_4spk_30s.wav", meeting[: 30 * rate], rate, subtype="PCM_16")
    for src in (MEDIA / "scenario" / "scenario.mp4", SPEECH / "ru_lecture.wav", SPEECH / "multilingual_en_de.mp3",
                MEDIA / "diarization" / "dev01.wav"):
        shutil.copy(src, out_dir / src.name)
    scenario = json.loads((MEDIA / "scenario" / "truth.json").read_text())
    return {
        "codeswitch.wav": truth,
        "meeting_4spk_30s.wav": [(0.0, 30.0, "en")],
        "scenario.mp4": [(p["start_s"], p["end_s"], p["language"]) for p in scenario["speech"]],
        "ru_lecture.wav": [(0.0, 1e9, "ru")],
        "multilingual_en_de.mp3": [(0.0, 30.0, "en"), (30.0, 1e9, "de")],
        "dev01.wav": [(0.0, 1e9, "en")],
    }


def truth_language(truth: list[tuple[float, float, str]], start_s: float, end_s: float) -> str | None:
    """The language of the truth stretch a turn overlaps most (None: it overlaps no speech)."""
    best, best_overlap = None, 0.0
    for a, b, lang in truth:
        overlap = min(b, end_s) - max(a, start_s)
        if overlap > best_overlap:
            best, best_overlap = lang, overlap
    return best


# (recording, language, from_s, to_s): stretches of one known language for ``pieces``
ONE_LANGUAGE = [
    ("speech/jfk_en.flac", "en", 0, 11), ("speech/multilingual_en_de.mp3", "en", 0, 29),
    ("speech/multilingual_en_de.mp3", "de", 31, 60), ("speech/de_01.wav", "de", 0, 99),
    ("speech/es_01.wav", "es", 0, 99), ("speech/it_01.wav", "it", 0, 99), ("speech/ar_01.wav", "ar", 0, 99),
    ("speech/ru_lecture.wav", "ru", 0, 60), ("speech/hy_01.wav", "hy", 0, 99),
    ("diarization/dev00.wav", "en", 0, 30), ("diarization/sample.wav", "en", 0, 30),
    ("diarization/ami_es2004_4spk.wav", "en", 0, 60), ("diarization/three_speakers.wav", "en", 0, 99),
]


def pieces(speech_regions, seed: int = 1, lengths_s=(1.5, 2.5, 4.0), cut_s: float = 0.2, per_length: int = 12):
    """Utterances of one known language cut into 2-3 turns of one speaker, ``cut_s`` of
    pause cut out at each cut; ``per_length`` utterances of each length from each
    recording (half as many from the English ones), deterministic by seed.

    speech_regions(audio_16k) -> [(start_s, end_s)]: where the recording has speech.
    Yields (language, utterance length_s, audio_16k, [(start_s, end_s) of each turn])."""
    rng = np.random.default_rng(seed)
    for name, lang, a, b in ONE_LANGUAGE:
        x = _load(MEDIA / name)[int(a * RATE_HZ): int(b * RATE_HZ)]
        regions = speech_regions(x)
        for length_s in lengths_s:
            fit = [r for r in regions if r[1] - r[0] >= length_s]
            for _ in range(per_length // 2 if lang == "en" else per_length):  # English: nine recordings
                if not fit:
                    break
                r0, r1 = fit[rng.integers(len(fit))]
                s = r0 + rng.uniform(0, r1 - r0 - length_s)
                bounds = [s, s]
                while min(np.diff(bounds)) < 0.5:  # every turn at least 0.3 s once the pauses are cut out
                    bounds = [s, *np.sort(rng.uniform(s, s + length_s, int(rng.integers(1, 3)))), s + length_s]
                last = len(bounds) - 2
                turns = [(bounds[i] + (cut_s / 2 if i else 0.0), bounds[i + 1] - (cut_s / 2 if i < last else 0.0))
                         for i in range(len(bounds) - 1)]
                yield lang, length_s, x, turns
