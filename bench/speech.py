"""Speech stage, measured side by side with plain faster-whisper (same model, same files,
same run): speed, where the time goes, languages per turn, WER/CER, and both engines.

1. Speed on the evidence set of ``_speech_set.py`` (scenario video, a 30-s 4-speaker meeting,
   a Russian lecture, English then German, AMI dev01, a six-language code-switch file):
   plain ``transcribe(beam_size=5, vad_filter=True, word_timestamps=True)`` against
   audiopipe's speech stage inside a whole run (diarization on), with translation and with
   ``--no-translate``; the whole run's RTF (stage seconds per audio second, models loaded).
2. Languages per diarization turn against the truth, by turn length, the turn's own
   detection (raw) against the decision over the file.
3. WER/CER on the speech clips (speech stage on VAD turns) against plain ``transcribe()``
   and against the figures of the previous speech stage (one 30-s window per turn).
4. Both engines on the same weights.
5. One utterance cut into turns (as diarization cuts at short pauses; every single-language
   recording of the shared set): each turn's own detection by its length, and the decision
   with each turn heard alone against the turns heard together (``language.stretches``).
6. Language trust on real speech (speech/trust and the shared single-language recordings):
   per language right / flagged / confidently wrong, Azerbaijani with ``--languages az,ru,hy``,
   the reliability table and expected calibration error of ``language_prob``, and the table of
   known confusions (``train/language_confusions.py``) held out by voice group.

Usage: ``python bench/speech.py [--device cuda]`` (on a GPU: float16, batch_size 8).
Text is normalised with Whisper's own normalisers before scoring.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

from jiwer import cer, wer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _speech_set import CODESWITCH, build, pieces, truth_language  # noqa: E402

from audiopipe import batch, config, ingest, models, speech  # noqa: E402
from audiopipe.records import MediaFile, Turn  # noqa: E402
from audiopipe.speech import language  # noqa: E402
from audiopipe.speech.stage import vad_turns  # noqa: E402

SPEECH = ROOT.parent / "shared" / "media" / "speech"
OUT = ROOT / "bench" / "out" / "speech"
MIT_EN = ("Permission is hereby granted, free of charge, to any person obtaining a copy of this software and "
          "associated documentation files (the \"Software\"), to deal in the Software without restriction, "
          "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, "
          "and/or sell copies of the Software, and to permit persons to whom the Software is furnished to do so, "
          "subject to the following conditions: The above copyright notice and this permission notice shall be "
          "included in all copies or substantial portions of the Software.")
CLIPS = {  # name: (reference text, language, WER/CER of the previous speech stage, README at 6313fdd)
    "jfk_en.flac": ("And so, my fellow Americans, ask not what your country can do for you, ask what you can do "
                    "for your country.", "en", (0.000, 0.000)),
    "es_01.wav": ("Las arenas son blanquecinas de grano medio y tiene muy poca asistencia.", "es", (0.000, 0.000)),
    "de_01.wav": ("Der hinter diesem Portal liegenden Raum wurde als Leichenhalle genutzt.", "de", (0.300, 0.071)),
    "it_01.wav": ("Sempre alla radio nacquero anche alcune sue canzoni o meglio ritmi.", "it", (0.364, 0.136)),
    "multilingual_en_de.mp3": (MIT_EN, "en", (0.024, 0.008)),
}
BUCKETS = [(0.0, 1.0, "< 1 s"), (1.0, 3.0, "1-3 s"), (3.0, 10.0, "3-10 s"), (10.0, 1e9, "> 10 s")]


def norm(text: str, language: str = "en") -> str:
    """Whisper's own text normalisers: English spelling and numbers standardised for
    English, the basic one (case, punctuation, symbols) for the others."""
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    normaliser = EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()
    return re.sub(r"\s+", " ", normaliser(text)).strip()


def bench_config(device: str) -> config.Config:
    cfg = config.load("default")
    if device == "cuda":
        cfg = cfg.replace("speech", device="cuda", compute_type="float16", batch_size=8)
    return cfg


def load_track(path: Path, cfg: config.Config):
    _, tracks, _ = ingest.load(MediaFile(path.name, str(path), path.stat().st_size), cfg.ingest)
    return tracks[0]


def plain_seconds(evidence: Path, cfg: config.Config) -> dict[str, float]:
    """Plain faster-whisper on each file's 16-kHz track: the anchor."""
    from faster_whisper import WhisperModel

    model = WhisperModel(models.resolve(cfg.speech.model).path, device=cfg.speech.device,
                         compute_type=cfg.speech.compute_type)
    out = {}
    for path in sorted(evidence.iterdir()):
        audio = load_track(path, cfg).audio_16k
        t0 = time.perf_counter()
        segments, _ = model.transcribe(audio, beam_size=5, vad_filter=True, word_timestamps=True)
        list(segments)
        out[path.name] = time.perf_counter() - t0
    return out


def run_case(evidence: Path, case: Path, cfg: config.Config) -> dict[str, dict]:
    shutil.rmtree(case, ignore_errors=True)  # a case left by an earlier run would be reused, not timed
    batch.run(evidence, case, cfg, quiet=True)
    results = {}
    for path in case.glob("files/*/result.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        results[Path(r["paths"][0]).name] = r
    return results


def speed(device: str) -> dict[str, dict]:
    cfg = bench_config(device)
    evidence = OUT / "evidence"
    truth = build(evidence)
    print(f"model {cfg.speech.model}, {cfg.speech.compute_type} on {cfg.speech.device}, beam {cfg.speech.beam_size}, "
          f"batch {cfg.speech.batch_size}")
    plain = plain_seconds(evidence, cfg)
    with_tr = run_case(evidence, OUT / "case", cfg)
    no_tr = run_case(evidence, OUT / "case-no-translate", cfg.replace("speech", translate=False))
    print("\n1. speed (seconds; ratio = audiopipe speech stage / plain faster-whisper; RTF = stage seconds "
          "per audio second, whole run)")
    print(f"{'file':24s} {'audio':>6s} {'plain':>6s} | {'speech':>6s} {'ratio':>5s} {'RTF':>5s} | "
          f"{'no-tr':>6s} {'ratio':>5s} {'RTF':>5s}")
    totals = [0.0] * 6
    for name in sorted(with_tr):
        a, b = with_tr[name], no_tr[name]
        audio = a["tracks"][0]["duration_s"]
        rtf_a = a["timings_s"]["total"] / audio
        rtf_b = b["timings_s"]["total"] / audio
        s_a, s_b = a["timings_s"]["speech"], b["timings_s"]["speech"]
        print(f"{name:24s} {audio:6.1f} {plain[name]:6.1f} | {s_a:6.1f} {s_a / plain[name]:5.2f} {rtf_a:5.2f} | "
              f"{s_b:6.1f} {s_b / plain[name]:5.2f} {rtf_b:5.2f}")
        for k, v in enumerate((audio, plain[name], s_a, rtf_a * audio, s_b, rtf_b * audio)):
            totals[k] += v
    audio, p, s_a, run_a, s_b, run_b = totals
    print(f"{'total':24s} {audio:6.1f} {p:6.1f} | {s_a:6.1f} {s_a / p:5.2f} {run_a / audio:5.2f} | "
          f"{s_b:6.1f} {s_b / p:5.2f} {run_b / audio:5.2f}")
    print("\nwhere the time goes (seconds, translation on): decode events diarization | speech: vad language "
          "encode transcribe translate")
    for name in sorted(with_tr):
        t = with_tr[name]["timings_s"]
        stage = " ".join(f"{t.get(k, 0.0):6.2f}" for k in ("decode", "events", "diarization"))
        parts = " ".join(f"{t.get('speech_' + k, 0.0):6.2f}" for k in ("vad", "language", "encode", "transcribe",
                                                                          "translate"))
        print(f"{name:24s} {stage} | {parts}")
    languages(with_tr, truth)
    true_turns(evidence / "codeswitch.wav", truth["codeswitch.wav"], cfg)
    return with_tr


def true_turns(path: Path, truth: list[tuple[float, float, str]], cfg: config.Config) -> None:
    """The code-switch file's languages on its true turns and speakers (what the decision
    does when diarization is right), raw against decided, by turn."""
    stage = speech.load_engine(cfg.speech, models.resolve(cfg.speech.model), None)
    audio = load_track(path, cfg).audio_16k
    turns = [Turn(0, a, b, spk) for (a, b, _), (_, _, spk, _, _) in zip(truth, CODESWITCH)]
    guesses = language.decide(turns, language.evidence(audio, turns, stage.engine, cfg.speech), cfg.speech)
    tally = {"raw": [0.0, 0.0, 0.0], "decided": [0.0, 0.0, 0.0]}
    for t, g, (_, _, want) in zip(turns, guesses, truth):
        for kind, lang, flagged in (("raw", g.raw_language, g.raw_language_prob < 0.5),
                                    ("decided", g.language, g.language_uncertain)):
            tally[kind][0 if lang == want else 1 if flagged else 2] += t.duration_s
    for kind, (right, flagged, wrong) in tally.items():
        total = right + flagged + wrong
        print(f"  codeswitch.wav, true turns {kind:8s} right {right / total:6.1%}  flagged {flagged / total:6.1%}  "
              f"confidently wrong {wrong / total:6.1%}  ({len(turns)} turns, {total:.1f} s)")


def languages(results: dict[str, dict], truth: dict) -> None:
    print("\n2. language per diarization turn against the truth (seconds of turn time: right / wrong flagged "
          "uncertain / wrong not flagged = confidently wrong); raw = the turn's own detection (flagged when its "
          "probability < 0.5), decided = over the file")
    rows: dict[str, dict[str, list[float]]] = {}
    for name, r in sorted(results.items()):
        per_file = {"raw": [0.0, 0.0, 0.0], "decided": [0.0, 0.0, 0.0]}
        for g in r["languages"]:
            want = truth_language(truth[name], g["start_s"], g["end_s"])
            if want is None:
                continue
            dur = g["end_s"] - g["start_s"]
            bucket = next(label for lo, hi, label in BUCKETS if lo <= dur < hi)
            for kind, lang, flagged in (("raw", g["raw_language"], g["raw_language_prob"] < 0.5),
                                        ("decided", g["language"], g["language_uncertain"])):
                k = 0 if lang == want else 1 if flagged else 2
                per_file[kind][k] += dur
                cell = rows.setdefault(bucket, {}).setdefault(kind, [0.0, 0.0, 0.0, 0])
                cell[k] += dur
                cell[3] += 1
        for kind in ("raw", "decided"):
            right, flagged, wrong = per_file[kind]
            total = max(right + flagged + wrong, 1e-9)
            print(f"  {name:24s} {kind:8s} right {right / total:6.1%}  flagged {flagged / total:6.1%}  "
                  f"confidently wrong {wrong / total:6.1%}  ({total:.1f} s of turns)")
    print("  by turn length (all files):")
    for _, _, label in BUCKETS:
        if label not in rows:
            continue
        for kind in ("raw", "decided"):
            right, flagged, wrong, n = rows[label][kind]
            total = max(right + flagged + wrong, 1e-9)
            print(f"  {label:7s} {n:3d} turns {kind:8s} right {right / total:6.1%}  flagged {flagged / total:6.1%}  "
                  f"confidently wrong {wrong / total:6.1%}")


def clips(device: str) -> None:
    cfg = bench_config(device)
    stage = speech.load_engine(cfg.speech, models.resolve(cfg.speech.model), models.resolve("fasttext-lid176"))
    from faster_whisper import WhisperModel

    plain = WhisperModel(models.resolve(cfg.speech.model).path, device=cfg.speech.device,
                         compute_type=cfg.speech.compute_type)
    print("\n3. WER / CER on the speech clips (speech stage on VAD turns, translation on)")
    print(f"{'file':24s} | audiopipe WER  CER  | previous stage WER  CER | plain WER  CER  lang")
    for name, (ref, lang, before) in CLIPS.items():
        track = load_track(SPEECH / name, cfg)
        segs = stage.process(track, []).segments
        plain_segs, info = plain.transcribe(track.audio_16k, beam_size=5, vad_filter=True, word_timestamps=True)
        plain_segs = list(plain_segs)
        first_half = name == "multilingual_en_de.mp3"  # the English half has the reference
        text = " ".join(s.text for s in segs if not first_half or s.end_s <= 30.5)
        ptext = " ".join(s.text for s in plain_segs if not first_half or s.end <= 30.5)
        r = norm(ref, lang)
        print(f"{name:24s} | {wer(r, norm(text, lang)):.3f} {cer(r, norm(text, lang)):.3f}  | "
              f"{before[0]:.3f} {before[1]:.3f}            | {wer(r, norm(ptext, lang)):.3f} "
              f"{cer(r, norm(ptext, lang)):.3f}  {info.language}")


def engines() -> None:
    """Both engines on the same weights, same turns, no translation: WER, speed, languages."""
    print("\n4. engines on the same weights (beam 5, no translation): faster-whisper int8 vs openai-whisper fp32")
    print(f"{'file':24s} | faster-whisper WER  RTF  lang | openai-whisper WER  RTF  lang")
    stages = {}
    for engine, compute in (("faster-whisper", "int8"), ("openai-whisper", "float32")):
        cfg = config.load("default").replace("speech", engine=engine, compute_type=compute, translate=False)
        stages[engine] = (cfg, speech.load_engine(cfg.speech, models.resolve(
            models.for_engine(cfg.speech.model, engine)), None))
    for name, (ref, lang, _) in CLIPS.items():
        row = []
        for cfg, stage in stages.values():
            track = load_track(SPEECH / name, cfg)
            t0 = time.perf_counter()
            result = stage.process(track, [])
            wall = time.perf_counter() - t0
            text = " ".join(s.text for s in result.segments if name != "multilingual_en_de.mp3" or s.end_s <= 30.5)
            langs = ",".join(g.language for g in result.languages)
            row.append(f"{wer(norm(ref, lang), norm(text, lang)):.3f} {track.duration_s / wall:5.1f}x {langs}")
        print(f"{name:24s} | {row[0]:26s} | {row[1]}")
    print("RTF here = audio seconds per wall second (higher is faster)")


def utterance_pieces(device: str) -> None:
    cfg = bench_config(device)
    stage = speech.load_engine(cfg.speech, models.resolve(cfg.speech.model), None)

    def regions(x):
        return [(t.start_s, t.end_s) for t in vad_turns(x, 0, cfg.speech, 30.0)]

    tally: dict[tuple[str, str], list[float]] = {}
    n = 0
    for lang, length_s, x, spans in pieces(regions):
        n += 1
        turns = [Turn(0, a, b, "S") for a, b in spans]
        heard = language.evidence(x, turns, stage.engine, cfg.speech)
        for mode, h in (("alone", language.Evidence.alone(heard.own)), ("together", heard)):
            for t, g in zip(turns, language.decide(turns, h, cfg.speech)):
                own = next(label for lo, hi, label in BUCKETS if lo <= t.duration_s < hi)
                keys = [f"{length_s:.1f} s", lang, "all"] + ([f"turn {own}"] if mode == "alone" else [])
                for key in keys:
                    cell = tally.setdefault((mode, key), [0.0, 0.0, 0.0, 0.0])
                    cell[0] += t.duration_s * (g.language == lang)
                    cell[1] += t.duration_s
                    cell[2] += t.duration_s * (g.raw_language == lang)
                    cell[3] += 1
    print(f"\n5. {n} utterances of one voice cut into 2-3 turns (seconds of turn time decided right)")
    print("  each turn's own detection by its length: " + "  ".join(
        f"{k[1][5:]} {v[2] / v[1]:.0%} ({v[3]:.0f})" for k, v in sorted(tally.items()) if k[1].startswith("turn ")))
    for key in sorted({k for _, k in tally if not k.startswith("turn ")}, key=lambda k: (k[0].isalpha(), k)):
        a, b = tally[("alone", key)], tally[("together", key)]
        label = f"utterance {key}" if key[0].isdigit() else key
        print(f"  {label:16s} turns decided alone {a[0] / a[1]:6.1%}   heard together {b[0] / b[1]:6.1%}")


def _clip_decision(result: dict) -> tuple[str, float, bool]:
    """A file's language as a reviewer reads it: the language of most of its segments' speech,
    its duration-weighted language_prob, and whether most of that speech is flagged
    (language_uncertain or language_confusable)."""
    speech_s: dict[str, float] = {}
    for s in result["segments"]:
        speech_s[s["language"]] = speech_s.get(s["language"], 0.0) + s["end_s"] - s["start_s"]
    if not speech_s:
        return "", 0.0, True
    main = max(speech_s, key=lambda k: (speech_s[k], k))
    mine = [s for s in result["segments"] if s["language"] == main]
    total = max(speech_s[main], 1e-9)
    prob = sum(s["language_prob"] * (s["end_s"] - s["start_s"]) for s in mine) / total
    flagged = sum(s["end_s"] - s["start_s"] for s in mine
                  if {"language_uncertain", "language_confusable"} & set(s["flags"])) > total / 2
    return main, prob, flagged


def _ece(probs: list[float], right: list[bool], bins: int = 10) -> float:
    import numpy as np

    p, r = np.asarray(probs), np.asarray(right, float)
    b = np.clip((p * bins).astype(int), 0, bins - 1)
    return float(sum(abs(r[b == k].mean() - p[b == k].mean()) * (b == k).sum() for k in range(bins) if (b == k).any())
                 / max(1, len(p)))


def _what_the_set_can_measure(probs: list[float], right: list[bool]) -> None:
    """How far ECE can be read on so few clips: the ECE that a perfectly calibrated
    ``language_prob`` would show (each clip right with exactly its probability, drawn 5,000
    times), where the measured ECE falls among those draws, Spiegelhalter's z (calibration as a
    test: |z| > 2 would say miscalibrated), and the calibrated ECE on larger sets of clips with
    probabilities like these."""
    import numpy as np

    rng = np.random.default_rng(0)
    p, r = np.asarray(probs), np.asarray(right, float)
    seen = _ece(probs, right)
    draws = np.array([_ece(list(p), list(rng.random(p.size) < p)) for _ in range(5000)])
    z = float(np.sum((r - p) * (1 - 2 * p)) / np.sqrt(max(np.sum((1 - 2 * p) ** 2 * p * (1 - p)), 1e-12)))
    print(f"  a perfectly calibrated language_prob would show ECE {np.median(draws):.3f} on these {p.size} clips "
          f"(median; 90 % {np.percentile(draws, 5):.3f}-{np.percentile(draws, 95):.3f}; <= 0.05 in "
          f"{np.mean(draws <= 0.05):.1%} of draws): the measured {seen:.3f} is at its "
          f"{np.mean(draws <= seen):.0%} point; Spiegelhalter z {z:+.2f} (|z| > 2: miscalibrated)")
    sizes = []
    for n in (100, 200, 400, 800):
        more = [_ece(list(q), list(rng.random(n) < q)) for q in (rng.choice(p, n) for _ in range(1000))]
        sizes.append(f"{n} clips {np.median(more):.3f}")
    print("  the same for more clips with probabilities like these (median calibrated ECE): " + ", ".join(sizes))


def trust(device: str) -> None:
    """Language trust on real speech: every clip of speech/trust and the single-language
    recordings of speech/, run as a user runs them (diarization on, no translation)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "train"))
    import language_confusions as lc

    cfg = bench_config(device).replace("speech", translate=False)
    clips = lc.clips()
    work = OUT / "trust"
    shutil.rmtree(work, ignore_errors=True)
    ev = work / "evidence"
    ev.mkdir(parents=True)
    for c in clips:
        shutil.copy(c.path, ev / c.path.name)
    rows = []
    for restrict in ((), ("az", "ru", "hy")):
        run_cfg = cfg.replace("speech", languages=list(restrict)) if restrict else cfg
        results = run_case(ev, work / ("case-" + ("-".join(restrict) or "all")), run_cfg)
        rows.append({c: _clip_decision(results[c.path.name]) for c in clips if c.path.name in results})
    plain, restricted = rows
    print(f"\n6. language trust: {len(plain)} real clips (speech/trust and the single-language recordings of "
          "speech/), one file each, diarization on, as a user runs them")
    print("  per language: clips, right, right and not flagged, flagged, confidently wrong (wrong, not flagged)")
    by_lang: dict[str, list] = {}
    for c, (lang, prob, flagged) in plain.items():
        by_lang.setdefault(c.language, []).append((lang == c.language, flagged))
    for lang, xs in sorted(by_lang.items()):
        print(f"  {lang:4s} {len(xs):2d}  right {sum(r for r, _ in xs):2d}  right+unflagged "
              f"{sum(r and not f for r, f in xs):2d}  flagged {sum(f for _, f in xs):2d}  "
              f"confidently wrong {sum(not r and not f for r, f in xs)}")
    wrong = [(c.path.name, lang, round(prob, 2)) for c, (lang, prob, f) in plain.items()
             if lang != c.language and not f]
    print(f"  confidently wrong: {len(wrong)}/{len(plain)} clips ({100 * len(wrong) / len(plain):.1f} %; target "
          f"<= 2 %): {wrong}")
    az = [c for c in restricted if c.language == "az"]
    print(f"  Azerbaijani with --languages az,ru,hy: {sum(restricted[c][0] == 'az' for c in az)}/{len(az)} right; "
          f"without: {sum(plain[c][0] == 'az' for c in az)}/{len(az)} right, "
          f"{sum(plain[c][0] != 'az' and not plain[c][2] for c in az)} confidently wrong")
    probs = [p for _, p, _ in plain.values()]
    right = [lang == c.language for c, (lang, _, _) in plain.items()]
    print("  reliability (language_prob decile: clips, mean prob, share right):")
    for k in range(10):
        idx = [i for i, p in enumerate(probs) if min(int(p * 10), 9) == k]
        if idx:
            print(f"    {k / 10:.1f}-{(k + 1) / 10:.1f}: {len(idx):2d}  {np.mean([probs[i] for i in idx]):.2f}  "
                  f"{np.mean([right[i] for i in idx]):.2f}")
    rng = np.random.default_rng(0)
    boot = [_ece([probs[i] for i in b], [right[i] for i in b])
            for b in (rng.integers(0, len(probs), len(probs)) for _ in range(1000))]
    print(f"  expected calibration error (10 bins) {_ece(probs, right):.3f} (target <= 0.05; bootstrap 90 % "
          f"interval {np.percentile(boot, 5):.3f}-{np.percentile(boot, 95):.3f}: {len(probs)} clips say little more)")
    _what_the_set_can_measure(probs, right)
    # the confusion table is fitted on these clips: each voice group again with the table built without it
    heard = lc.heard(clips, cfg)
    full = [lc.decide(c, t, e, cfg.speech) for c, t, e in heard]
    held = []
    for c, t, e in heard:
        rest = [d for d in full if d.clip.group != c.group]
        found = language.Confusions.from_dict({"confusions": lc.table(rest, cfg.speech.language_threshold)})
        held.append(lc.decide(c, t, e, cfg.speech, found))
    shipped = language.Confusions.from_dict({"confusions": lc.table(full, cfg.speech.language_threshold)})
    inside = [lc.decide(c, t, e, cfg.speech, shipped) for c, t, e in heard]
    for what, ds in (("the table fitted on all clips (in sample)", inside),
                     ("each voice group with the table fitted without it (held out)", held)):
        cw = [d.clip.path.name for d in ds if not d.right and not d.flagged]
        print(f"  VAD turns, {what}: confidently wrong {len(cw)}/{len(ds)} {cw}; ECE "
              f"{_ece([d.prob for d in ds], [d.right for d in ds]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--only", choices=["speed", "clips", "engines", "pieces", "trust"],
                        help="one part of the bench")
    args = parser.parse_args()
    if args.only in (None, "speed"):
        speed(args.device)
    if args.only in (None, "clips"):
        clips(args.device)
    if args.only in (None, "engines") and args.device == "cpu":
        engines()
    if args.only in (None, "pieces"):
        utterance_pieces(args.device)
    if args.only in (None, "trust"):
        trust(args.device)


if __name__ == "__main__":
    main()
