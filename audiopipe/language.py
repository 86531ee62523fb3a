"""Spoken-language identification per speech turn.

Most Whisper tools pick one language per file from its first 30 seconds; evidence files
switch languages, so every turn gets its own detection: the language, its probability,
the top three, and ``language_uncertain`` when the probability is under
``language_threshold`` or the turn is shorter than ``min_certain_turn_s``.

A short turn is padded the way Whisper was trained (30 s of zero *samples* appended before
the log-mel is taken), never with zeros in the log-mel domain, which the model has not seen
and which biases it towards some languages. When a turn is uncertain and its speaker is
known, the speaker's other turns in the file inform the choice (duration-weighted mean of
their probabilities); the turn's own detection is kept as ``raw_language``.

With ``languages`` (the user's list of expected languages) the probabilities are
renormalised over that list; the turn is still uncertain when the listed languages hold
less than ``language_threshold`` of the model's unrestricted belief.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .config import SpeechConfig
from .records import LanguageGuess, Turn

SAMPLE_RATE_HZ = 16000


class LanguageDetector(Protocol):
    def language_probs(self, audio_16k: np.ndarray) -> dict[str, float]:
        """Probabilities of every language the model knows for one stretch of audio.

        audio_16k: np.ndarray float32, shape = (n_samples,), at most 30 s at 16 kHz.
        """


def _restrict(probs: dict[str, float], allowed: tuple[str, ...]) -> tuple[dict[str, float], float]:
    """Probabilities renormalised over the allowed languages (all of them when none are
    given), and the share of the model's belief those languages held."""
    if not allowed:
        return probs, 1.0
    kept = {k: v for k, v in probs.items() if k in allowed}
    total = sum(kept.values())
    if total <= 0:
        return {k: 1.0 / len(allowed) for k in allowed}, 0.0
    return {k: v / total for k, v in kept.items()}, total


def _top(probs: dict[str, float], n: int = 3) -> tuple[tuple[str, float], ...]:
    return tuple((k, round(float(v), 4)) for k, v in sorted(probs.items(), key=lambda kv: -kv[1])[:n])


def identify(audio_16k: np.ndarray, turns: list[Turn], detector: LanguageDetector, cfg: SpeechConfig,
             first_index: int = 0) -> list[LanguageGuess]:
    """One ``LanguageGuess`` per turn. audio_16k: shape = (n_samples,), the whole track."""
    if cfg.language:
        return [LanguageGuess(first_index + i, t.track, t.start_s, t.end_s, t.speaker, cfg.language, 1.0,
                              ((cfg.language, 1.0),), False, cfg.language, 1.0, "forced")
                for i, t in enumerate(turns)]
    raw: list[dict[str, float]] = []
    allowed_mass: list[float] = []  # how much of the model's belief the allowed languages hold
    for t in turns:
        a = int(t.start_s * SAMPLE_RATE_HZ)
        b = min(int(t.end_s * SAMPLE_RATE_HZ), a + 30 * SAMPLE_RATE_HZ)
        probs = detector.language_probs(audio_16k[a:b])
        restricted, mass = _restrict(probs, cfg.languages)
        raw.append(restricted)
        allowed_mass.append(mass)

    by_speaker: dict[str, dict[str, float]] = {}
    for t, p in zip(turns, raw):
        if t.speaker is None:
            continue
        acc = by_speaker.setdefault(t.speaker, {})
        for k, v in p.items():
            acc[k] = acc.get(k, 0.0) + v * t.duration_s
    guesses = []
    for i, (t, p, mass) in enumerate(zip(turns, raw, allowed_mass)):
        top = _top(p)
        raw_lang, raw_prob = top[0]
        short = t.duration_s < cfg.min_certain_turn_s
        # restricted: the model may hear none of the allowed languages; then the pick among
        # them is a guess, however large its renormalised probability
        uncertain = raw_prob < cfg.language_threshold or short or mass < cfg.language_threshold
        lang, prob, decided = raw_lang, raw_prob, "restricted" if cfg.languages else "turn"
        if uncertain and t.speaker in by_speaker:
            acc = by_speaker[t.speaker]
            total = sum(acc.values()) or 1.0
            pooled = {k: v / total for k, v in acc.items()}
            s_lang, s_prob = _top(pooled, 1)[0]
            if s_prob >= cfg.language_threshold:
                lang, prob, decided = s_lang, s_prob, "speaker"
                top = _top(pooled)
        guesses.append(LanguageGuess(first_index + i, t.track, t.start_s, t.end_s, t.speaker, lang, float(prob),
                                     top, bool(uncertain), raw_lang, float(raw_prob), decided))
    return guesses
