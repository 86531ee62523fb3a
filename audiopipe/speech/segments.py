"""The speech stage's output segments: each decoded segment cut at turn boundaries by its
words' times (``windows.assign``), with the turn's speaker and language, its quality flags, the
text-language cross-check and the English translation beside the words it translates.
Records out: ``records.Segment`` (and the turns' ``LanguageGuess``, marked uncertain where the
decoder could not write a turn confidently in its language).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import SpeechConfig
from ..records import LanguageGuess, Segment, Turn, Word
from .decoding import RawSegment, compression_ratio
from .quality import TextLanguage, quality_flags, repetition_loop
from .windows import Window, assign


def output_segments(turns: list[Turn], guesses: list[LanguageGuess], windows: list[Window],
                    transcripts: list[list[RawSegment]], translations: list[list[RawSegment]], cfg: SpeechConfig,
                    text_lid: TextLanguage | None) -> tuple[list[Segment], list[LanguageGuess]]:
    """Output segments: each decoded segment cut at turn boundaries by its words' times,
    with its translation, flags, and the turn's language (marked uncertain when the
    decoder could not write the turn confidently in it: the signature of a wrong pick)."""
    pieces: list[tuple[int, int, RawSegment, list[Word], bool]] = []  # (window, turn, segment, words, outside)
    for wi, (window, raws) in enumerate(zip(windows, transcripts)):
        for r in raws:
            words = list(r.words) or [Word(r.start_s, r.end_s, r.text, 1.0)]
            owners = assign(words, turns, window.turn_indices)
            for ti in dict.fromkeys(owners):
                mine = [w for w, o in zip(words, owners) if o == ti]
                t = turns[ti]
                outside = sum(not (t.start_s <= 0.5 * (w.start_s + w.end_s) <= t.end_s) for w in mine) > len(mine) / 2
                pieces.append((wi, ti, r, mine if r.words else [], outside))

    logprobs: dict[int, list[float]] = {}
    for _, ti, r, _, _ in pieces:
        logprobs.setdefault(ti, []).append(r.avg_logprob)
    for ti, lps in logprobs.items():
        g = guesses[ti]
        if not g.language_uncertain and g.decided_by != "forced" and float(np.mean(lps)) < cfg.flag_avg_logprob:
            guesses[ti] = dataclasses.replace(g, language_uncertain=True)

    made: list[tuple[int, Segment]] = []
    for wi, ti, r, words, outside in pieces:
        t, g = turns[ti], guesses[ti]
        # words mostly in the turn are held to it (a few ms past a turn's edge); words mostly
        # outside every turn (text_in_non_speech) keep the times Whisper heard them at, so
        # that a reviewer can listen there (held to the turn, they became zero-length rows)
        lo, hi = (-np.inf, np.inf) if outside else (t.start_s, t.end_s)
        inside = tuple(Word(round(min(max(w.start_s, lo), hi), 3),
                            round(min(max(w.end_s, lo), hi), 3), w.word, round(w.probability, 4))
                       for w in words)
        text = "".join(w.word for w in words).strip() if r.words else r.text
        start = inside[0].start_s if inside else max(lo, r.start_s)
        end = inside[-1].end_s if inside else min(hi, r.end_s)
        text_lang, text_prob = text_lid(text) if text_lid else (None, 0.0)
        flags = quality_flags(dataclasses.replace(r, text=text), cfg)
        if text_lang and text_prob >= 0.5 and text_lang != g.language:
            flags.append("text_language_mismatch")
        if g.language_uncertain:
            flags.append("language_uncertain")
        if g.could_be:
            flags.append("language_confusable")
        if outside:
            flags.append("text_in_non_speech")
        made.append((wi, Segment(
            track=t.track, start_s=round(start, 3), end_s=round(max(end, start), 3), speaker=t.speaker,
            language=g.language, language_prob=round(g.language_prob, 4), language_top3=g.language_top3,
            language_uncertain=g.language_uncertain, text=text, text_en=text if g.language == "en" else None,
            avg_logprob=round(r.avg_logprob, 4), no_speech_prob=round(r.no_speech_prob, 4),
            compression_ratio=round(compression_ratio(text), 3), text_language=text_lang, words=inside,
            flags=tuple(flags), language_could_be=g.could_be)))
    if cfg.translate:
        made = _translations(made, translations, cfg)
    return sorted((s for _, s in made), key=lambda s: (s.start_s, s.end_s)), guesses


def _translations(made: list[tuple[int, Segment]], translations: list[list[RawSegment]], cfg: SpeechConfig
                  ) -> list[tuple[int, Segment]]:
    """Each translated segment given to the segment of its window it overlaps most (the
    nearest when none): whole English sentences, beside the words they translate."""
    given: dict[int, list[RawSegment]] = {}
    for wi, trs in enumerate(translations):
        mine = [k for k, (w, s) in enumerate(made) if w == wi and s.text]
        for tr in trs:
            if not mine or not tr.text:
                continue

            def key(k: int) -> tuple[float, float]:
                s = made[k][1]
                overlap = min(tr.end_s, s.end_s) - max(tr.start_s, s.start_s)
                return -max(overlap, 0.0), max(s.start_s - tr.end_s, tr.start_s - s.end_s, 0.0)

            given.setdefault(min(mine, key=key), []).append(tr)
    out = []
    for k, (wi, s) in enumerate(made):
        if s.language == "en" or not s.text:
            out.append((wi, s))
            continue
        trs = given.get(k, [])
        flags = list(s.flags)
        if not trs:
            flags.append("translation_in_neighbour_segment")
        elif not all(r.avg_logprob >= cfg.flag_avg_logprob and not repetition_loop(r.text) for r in trs):
            flags.append("translation_low_confidence")
        text_en = " ".join(r.text for r in trs).strip() or None
        out.append((wi, dataclasses.replace(s, text_en=text_en, flags=tuple(flags))))
    return out
