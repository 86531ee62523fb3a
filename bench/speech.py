"""Speech stage: WER/CER, language per turn, and real-time factor, against plain
faster-whisper ``transcribe()`` on the whole file (same model, beam size 5), in one run.

Text is normalised with Whisper's own normalisers before scoring; references come from
shared/media/speech/README*.md. Languages: the truth of every file is one language, except
multilingual_en_de.mp3 (English before 30 s, German after).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from jiwer import cer, wer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiopipe import config, ingest, models, transcribe  # noqa: E402
from audiopipe.records import MediaFile  # noqa: E402

SPEECH = ROOT.parent / "shared" / "media" / "speech"
MIT_EN = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
          "associated documentation files (the \"Software\"), to deal in the Software without restriction, "
          "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
          "and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, "
          "subject to the following conditions: The above copyright notice and this permission notice shall be "
          "included in all copies or substantial portions of the Software.")
FILES = {  # name: (reference text or None, language(s))
    "jfk_en.flac": ("And so, my fellow Americans, ask not what your country can do for you, ask what you can do "
                    "for your country.", "en"),
    "es_01.wav": ("Las arenas son blanquecinas de grano medio y tiene muy poca asistencia.", "es"),
    "de_01.wav": ("Der hinter diesem Portal liegenden Raum wurde als Leichenhalle genutzt.", "de"),
    "it_01.wav": ("Sempre alla radio nacquero anche alcune sue canzoni o meglio ritmi.", "it"),
    "hy_01.wav": (None, "hy"),
    "ar_01.wav": (None, "ar"),
    "multilingual_en_de.mp3": (MIT_EN, "en<30s, de"),
}


def norm(text: str, language: str = "en") -> str:
    """Whisper's own text normalisers (from openai-whisper): English spelling and numbers
    standardised for English, the basic one (case, punctuation, symbols) for the others."""
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    normaliser = EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()
    return re.sub(r"\s+", " ", normaliser(text)).strip()


def scores(ref: str | None, hyp: str, language: str) -> str:
    """WER and CER as printed, or dashes where no verified reference exists."""
    if ref is None:
        return "  -     -  "
    r, h = norm(ref, language), norm(hyp, language)
    return f"{wer(r, h):.3f} {cer(r, h):.3f}"


def truth_language(name: str, start_s: float, end_s: float) -> str:
    if name == "multilingual_en_de.mp3":
        return "en" if (start_s + end_s) / 2 < 30.0 else "de"
    return FILES[name][1]


def main() -> None:
    cfg = config.load("default")
    stage = transcribe.load_engine(cfg.speech, models.resolve(cfg.speech.model), models.resolve("fasttext-lid176"))
    plain = stage.engine.model
    print(f"model {cfg.speech.model}, {cfg.speech.compute_type} on {cfg.speech.device}, beam {cfg.speech.beam_size}")
    print("file                    | audiopipe: WER   CER   lang_ok  RTF  | plain faster-whisper: lang WER   CER   RTF"
          " | speed ratio")
    for name, (ref, _) in FILES.items():
        p = SPEECH / name
        _, tracks, _ = ingest.load(MediaFile(name, str(p), p.stat().st_size), cfg.ingest)
        track = tracks[0]
        t0 = time.perf_counter()
        turns, langs, segs, _ = stage.process(track, [])
        ours_s = time.perf_counter() - t0
        text = " ".join(s.text for s in segs)
        if name == "multilingual_en_de.mp3":
            text = " ".join(s.text for s in segs if s.end_s <= 30.5)
        ok = sum(g.language == truth_language(name, g.start_s, g.end_s) for g in langs)
        t0 = time.perf_counter()
        psegs, info = plain.transcribe(track.audio_16k, beam_size=5)
        psegs = list(psegs)
        plain_s = time.perf_counter() - t0
        ptext = " ".join(s.text for s in psegs if name != "multilingual_en_de.mp3" or s.end <= 30.5)
        rtf_ours = track.duration_s / ours_s
        rtf_plain = track.duration_s / plain_s
        lang = FILES[name][1][:2]
        print(f"{name:23s} | {scores(ref, text, lang)}  {ok}/{len(langs)}  {rtf_ours:5.1f}x | {info.language:4s} "
              f"{scores(ref, ptext, lang)} {rtf_plain:5.1f}x | {ours_s / max(plain_s, 1e-9):.2f}")
    print("RTF = audio seconds per wall second (higher is faster); speed ratio = audiopipe time / plain time "
          "(audiopipe also translates every non-English segment)")
    engines()


def engines() -> None:
    """Both engines on the same weights, same turns, no translation: WER and speed."""
    print("\nengines on the same weights (beam 5, no translation): faster-whisper int8 vs openai-whisper fp32")
    print("file                    | faster-whisper WER  RTF   | openai-whisper WER  RTF")
    stages = {}
    for engine, compute in (("faster-whisper", "int8"), ("openai-whisper", "float32")):
        cfg = config.load("default").replace("speech", engine=engine, compute_type=compute, translate=False)
        stages[engine] = (cfg, transcribe.load_engine(cfg.speech, models.resolve(
            models.for_engine(cfg.speech.model, engine)), None))
    for name, (ref, _) in FILES.items():
        if ref is None:
            continue
        p = SPEECH / name
        row = []
        for cfg, stage in stages.values():
            _, tracks, _ = ingest.load(MediaFile(name, str(p), p.stat().st_size), cfg.ingest)
            t0 = time.perf_counter()
            _, _, segs, _ = stage.process(tracks[0], [])
            wall = time.perf_counter() - t0
            text = " ".join(s.text for s in segs if name != "multilingual_en_de.mp3" or s.end_s <= 30.5)
            lang = FILES[name][1][:2]
            row.append(f"{wer(norm(ref, lang), norm(text, lang)):.3f}  {tracks[0].duration_s / wall:5.1f}x")
        print(f"{name:23s} | {row[0]:18s}        | {row[1]}")


if __name__ == "__main__":
    main()
