"""Where Whisper base's language identification is weak, measured on real speech: the
languages it names for speech in another language (``audiopipe/models/language_confusions.yaml``).

    python train/language_confusions.py [--out FILE]      (make language-confusions)

Every clip of ``shared/media/speech/trust`` (labels.csv: Common Voice and FLEURS, one language
each) and the single-language recordings of ``shared/media/speech`` goes through the speech
stage's own language evidence (its VAD turns, ``language.evidence``) and decision
(``language.decide``, no confusions known). A clip's decision is the language of most of its
speech, with its probability; a clip is *confidently wrong* when that language is not the
clip's, at ``language_threshold`` or more, and not flagged uncertain.

A heard language L is written down as confusable, ``could_be`` the language T, when at least
``MIN_GROUPS`` voice groups of T (labels.csv's "pitch group" / "voice group"; a clip of its
own elsewhere) were confidently decided as L (one odd clip is not a pattern), or when the pair
is in ``KNOWN``, whatever the set shows. ``share_right`` is the share of the set's
confident decisions of L that were right; the speech stage scales the posterior of a
confusable decision by it.

``KNOWN``: pairs of related languages where Whisper had far less training speech of one than
of the other, so that the first is heard as the second. Whisper's paper (Radford et al. 2022,
its figure of training hours per language) has Azerbaijani among the languages with little
data and Turkish among those with thousands of hours; the hours themselves could not be read
from here and no figure is used. The shared Azerbaijani clips are all of one pitch group, so
the data alone cannot make az -> tr a pattern of two voices: the pair rests on that knowledge
(the set shows it too: 3 of 7 Azerbaijani clips confidently decided Turkish).
What this cannot see: ~40 clips, a handful per language; languages Whisper has no token for
(Central Kurdish, Kinyarwanda) are flagged by the decision's own uncertainty, not by this table.

Deterministic: the same models and clips give the same file (its SHA-256 goes in the registry).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiopipe import config, ingest, models, speech  # noqa: E402
from audiopipe.records import LanguageGuess, MediaFile  # noqa: E402
from audiopipe.speech import language  # noqa: E402
from audiopipe.speech.stage import vad_turns  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "speech"
OUT = ROOT / "audiopipe" / "models" / "language_confusions.yaml"
MIN_GROUPS = 2
KNOWN = {"tr": ("az",)}  # heard -> what it may be (see the module docstring)
#: the single-language recordings of shared/media/speech and their languages (speech/README*)
SHARED = {"jfk_en.flac": "en", "hotwords_en.mp3": "en", "de_01.wav": "de", "es_01.wav": "es", "it_01.wav": "it",
          "ar_01.wav": "ar", "hy_01.wav": "hy", "ru_lecture.wav": "ru"}


@dataclass(frozen=True)
class Clip:
    path: Path
    language: str
    group: str  # clips that are probably one voice share it (kept in one fold)


@dataclass(frozen=True)
class Decision:
    clip: Clip
    language: str  # of most of the clip's speech
    prob: float  # its probability, mean over that speech
    flagged: bool  # most of that speech uncertain or confusable

    @property
    def right(self) -> bool:
        return self.language == self.clip.language


def clips() -> list[Clip]:
    out = []
    with open(MEDIA / "trust" / "labels.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            voice = re.search(r"\((?:pitch group|voice group) ([^)]+)\)", row["speaker"])
            out.append(Clip(MEDIA / "trust" / row["file"], row["language"],
                            voice.group(1) if voice else row["file"]))
    out += [Clip(MEDIA / name, lang, name) for name, lang in SHARED.items()]
    return out


def heard(cs: list[Clip], cfg: config.Config) -> list[tuple[Clip, list, language.Evidence]]:
    """Each clip's turns (Silero VAD, as without diarization) and what Whisper base hears of them."""
    stage = speech.load_engine(cfg.speech, models.resolve(cfg.speech.model), None)
    out = []
    for c in cs:
        _, tracks, _ = ingest.load(MediaFile(c.path.name, str(c.path), c.path.stat().st_size), cfg.ingest)
        audio = tracks[0].audio_16k
        turns = vad_turns(audio, 0, cfg.speech, cfg.speech.max_turn_s)
        if turns:
            out.append((c, turns, language.evidence(audio, turns, stage.engine, cfg.speech)))
    return out


def decide(c: Clip, turns: list, ev: language.Evidence, cfg: config.SpeechConfig,
           confusions: language.Confusions | None = None) -> Decision:
    """A clip's decision: the language of most of its speech, its mean probability, flagged or not."""
    guesses: list[LanguageGuess] = language.decide(turns, ev, cfg, None, confusions)
    speech_s: dict[str, float] = {}
    for g in guesses:
        speech_s[g.language] = speech_s.get(g.language, 0.0) + g.end_s - g.start_s
    main = max(speech_s, key=lambda k: (speech_s[k], k))
    mine = [g for g in guesses if g.language == main]
    prob = sum(g.language_prob * (g.end_s - g.start_s) for g in mine) / speech_s[main]
    flagged = sum(g.end_s - g.start_s for g in mine if g.language_uncertain or g.could_be) > speech_s[main] / 2
    return Decision(c, main, prob, flagged)


def table(decisions: list[Decision], threshold: float) -> dict:
    """Confusable heard languages: ``could_be`` and ``share_right`` (see the module docstring)."""
    sure = [d for d in decisions if d.prob >= threshold and not d.flagged]
    wrong: dict[str, dict[str, set[str]]] = {}
    for d in sure:
        if not d.right:
            wrong.setdefault(d.language, {}).setdefault(d.clip.language, set()).add(d.clip.group)
    out = {}
    for heard_as in sorted(set(wrong) | set(KNOWN)):
        truths = wrong.get(heard_as, {})
        could_be = sorted({t for t, groups in truths.items() if len(groups) >= MIN_GROUPS}
                          | set(KNOWN.get(heard_as, ())))
        if could_be:
            mine = [d for d in sure if d.language == heard_as]
            out[heard_as] = {"could_be": could_be,
                             "share_right": round(sum(d.right for d in mine) / len(mine), 3) if mine else 1.0,
                             "seen": {t: sorted(d.clip.path.name for d in mine if d.clip.language == t)
                                      for t in [heard_as, *could_be]}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    out = ap.parse_args().out
    cfg = config.load("default")
    rows = heard(clips(), cfg)
    decisions = [decide(c, turns, ev, cfg.speech) for c, turns, ev in rows]
    found = table(decisions, cfg.speech.language_threshold)
    header = (f"# Where Whisper base's language identification is weak: a decided language -> what it may\n"
              f"# really be. Written by `make language-confusions` (train/language_confusions.py) from {len(rows)}\n"
              f"# real clips (shared/media/speech/trust and speech); do not edit by hand.\n")
    text = header + yaml.safe_dump({"model": "whisper-base", "min_groups": MIN_GROUPS,
                                    "known": {k: list(v) for k, v in KNOWN.items()}, "confusions": found},
                                   sort_keys=True, allow_unicode=True)
    out.write_text(text, encoding="utf-8")
    for d in decisions:
        print(f"{d.clip.path.name:28s} {d.clip.language:4s} -> {d.language:4s} {d.prob:.2f}"
              f"{' flagged' if d.flagged else ''}{'' if d.right else ' WRONG'}")
    print(f"wrote {out}: {found}")


if __name__ == "__main__":
    main()
