"""Spoken language of every speech turn: what each turn says, then what is decided over the file.

Most Whisper tools pick one language per file from its first 30 seconds; evidence files
switch languages, so every turn is heard on its own (``evidence``). A short turn says
little, though: Whisper base is right on about half of the 1-s clips it hears, and
confidently wrong on a quarter. So the decision (``decide``) is taken over the file: each
speaker's turns form a chain in time order in which changing language costs
``language_switch_cost`` nats, each turn's log-probabilities count in proportion to its
length (fully from ``language_evidence_full_s``; at ``language_gunfire_weight`` under
gunfire), and a speaker's first turn starts from the whole file's languages. A long turn
in another language wins; a 1-s turn rarely does on its own. The most likely sequence
(Viterbi) is the decision, and its probability is the posterior of the chain
(forward-backward).

Kept for every turn: the turn's own detection (``raw_*``), the decided language, its
posterior and top three, and ``decided_by`` (``turn``: its own evidence; ``speaker``:
the speaker's other turns; ``file``: the rest of the file; ``forced``; ``restricted``).
A turn is ``language_uncertain`` when its own evidence disagrees with the decision or is
weak (its own top language under ``language_threshold``: the label then rests on the other
turns, which may be another voice that diarization gave the same label), the
posterior is under ``language_threshold`` (``language_switch_min_prob`` where the speaker
changes language at that turn), the turn is under ``min_certain_turn_s``, or the user's
expected languages (``languages``) hold under ``language_threshold`` of the model's
unrestricted belief.

Evidence is cheap on purpose: a turn's first ``language_evidence_max_s`` seconds, with
zero samples appended up to ``language_min_window_s`` (not the whole 30-s window; the
encoder's cost grows with its input, and bench/speech.py measures what that costs in
accuracy). The windows that are decoded later are encoded again, once, for everything
else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from scipy.special import logsumexp

from .config import SpeechConfig
from .records import LanguageGuess, Turn

SAMPLE_RATE_HZ = 16000
PROB_FLOOR = 1e-4  # a language the model gives less than this is no less likely than this
CANDIDATES = 3  # each turn's top languages that the decision chooses among


class LanguageDetector(Protocol):
    def encode(self, audio_16k: Sequence[np.ndarray], min_s: float | None) -> Any:
        """Encoder output of a batch of clips (each at most 30 s at 16 kHz), each with zero
        samples appended up to ``min_s`` seconds (30 = Whisper's own window) or to the
        batch's longest clip; None: a window to decode, padded as Whisper's transcribe pads
        (the clip's log-mel, then zeros up to 30 s)."""

    def language_probs(self, encoded: Any) -> list[dict[str, float]]:
        """Probabilities of every language the model knows, one dict per clip of the batch."""


def clip(audio_16k: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """The samples of [start_s, end_s) of a 16-kHz track."""
    return audio_16k[int(start_s * SAMPLE_RATE_HZ): int(end_s * SAMPLE_RATE_HZ)]


def evidence(audio_16k: np.ndarray, turns: list[Turn], detector: LanguageDetector, cfg: SpeechConfig
             ) -> list[dict[str, float]]:
    """Each turn's own language probabilities. audio_16k: shape = (n_samples,), the whole track."""
    clips = [clip(audio_16k, t.start_s, min(t.end_s, t.start_s + cfg.language_evidence_max_s)) for t in turns]
    order = sorted(range(len(clips)), key=lambda i: clips[i].size)  # batches of like lengths pad least
    probs: list[dict[str, float]] = [{} for _ in clips]
    for k in range(0, len(order), cfg.batch_size):
        batch = order[k:k + cfg.batch_size]
        encoded = detector.encode([clips[i] for i in batch], cfg.language_min_window_s)
        for i, p in zip(batch, detector.language_probs(encoded)):
            probs[i] = p
    return probs


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


def _top(names: Sequence[str], p: np.ndarray, n: int = 3) -> tuple[tuple[str, float], ...]:
    idx = np.argsort(-p, kind="stable")[:n]
    return tuple((names[i], round(float(p[i]), 4)) for i in idx)


def _chain(emit: np.ndarray, start: np.ndarray, switch_cost: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior marginals and the Viterbi path of a chain of turns.

    emit: shape = (n_turns, n_languages), log-potentials of each turn's evidence;
    start: shape = (n_languages,), log-prior of the first turn; staying costs nothing,
    changing language ``switch_cost`` nats. Returns (marginals (n_turns, n_languages), path (n_turns,)).
    """
    n, n_lang = emit.shape
    trans = np.where(np.eye(n_lang, dtype=bool), 0.0, -switch_cost)
    alpha = np.empty_like(emit)
    back = np.zeros((n, n_lang), int)
    best = np.empty_like(emit)
    alpha[0] = best[0] = start + emit[0]
    for t in range(1, n):
        alpha[t] = emit[t] + logsumexp(alpha[t - 1][:, None] + trans, axis=0)
        scores = best[t - 1][:, None] + trans
        back[t] = scores.argmax(axis=0)
        best[t] = emit[t] + scores.max(axis=0)
    beta = np.zeros_like(emit)
    for t in range(n - 2, -1, -1):
        beta[t] = logsumexp(trans + (emit[t + 1] + beta[t + 1])[None, :], axis=1)
    post = alpha + beta
    post = np.exp(post - logsumexp(post, axis=1, keepdims=True))
    path = np.zeros(n, int)
    path[-1] = int(best[-1].argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return post, path


def decide(turns: list[Turn], raw: list[dict[str, float]], cfg: SpeechConfig,
           under_fire: Sequence[bool] | None = None) -> list[LanguageGuess]:
    """One ``LanguageGuess`` per turn from every turn's own probabilities (``evidence``).

    under_fire: per turn, whether gunshots fall inside it (its evidence then counts less).
    """
    if cfg.language:
        return [LanguageGuess(i, t.track, t.start_s, t.end_s, t.speaker, cfg.language, 1.0,
                              ((cfg.language, 1.0),), False, cfg.language, 1.0, "forced")
                for i, t in enumerate(turns)]
    if not turns:
        return []
    restricted = [_restrict(p, cfg.languages) for p in raw]
    # the candidates: languages some turn puts in its top three. Over all 99 of Whisper's, the
    # long tail of languages no turn supports would share most of a short turn's posterior.
    names = sorted({k for p, _ in restricted for k, _ in sorted(p.items(), key=lambda kv: -kv[1])[:CANDIDATES]})
    probs = np.array([[p.get(k, 0.0) for k in names] for p, _ in restricted])  # (n_turns, n_languages)
    dur = np.array([max(t.duration_s, 0.0) for t in turns])
    weight = np.minimum(1.0, dur / cfg.language_evidence_full_s)
    if under_fire is not None:
        weight = np.where(np.asarray(under_fire, bool), weight * cfg.language_gunfire_weight, weight)
    emit = weight[:, None] * np.log(np.maximum(probs, PROB_FLOOR))
    file_p = (weight * dur) @ probs
    file_p = file_p / file_p.sum() if file_p.sum() > 0 else np.full(len(names), 1.0 / len(names))
    start = cfg.language_file_prior_weight * np.log(np.maximum(file_p, PROB_FLOOR))

    post = np.zeros_like(probs)
    path = np.zeros(len(turns), int)
    chains: dict[str | None, list[int]] = {}
    position: dict[int, int] = {}  # a turn's place in its speaker's chain
    for i in sorted(range(len(turns)), key=lambda i: (turns[i].start_s, turns[i].end_s)):
        chain = chains.setdefault(turns[i].speaker, [])
        position[i] = len(chain)
        chain.append(i)
    for members in chains.values():
        post[members], path[members] = _chain(emit[members], start, cfg.language_switch_cost)

    guesses = []
    for i, t in enumerate(turns):
        raw_top = _top(names, probs[i])
        raw_lang, raw_prob = raw_top[0]
        lang, prob = names[path[i]], float(post[i, path[i]])
        mass = restricted[i][1]
        if lang == raw_lang:
            decided = "restricted" if cfg.languages else "turn"
        elif t.speaker is not None and len(chains[t.speaker]) > 1:
            decided = "speaker"
        else:
            decided = "file"
        chain, k = chains[t.speaker], position[i]
        switch = any(names[path[j]] != lang for j in chain[max(0, k - 1): k + 2])
        uncertain = (lang != raw_lang or raw_prob < cfg.language_threshold or prob < cfg.language_threshold
                     or t.duration_s < cfg.min_certain_turn_s
                     or mass < cfg.language_threshold or switch and prob < cfg.language_switch_min_prob)
        guesses.append(LanguageGuess(i, t.track, t.start_s, t.end_s, t.speaker, lang, round(prob, 4),
                                     _top(names, post[i]), bool(uncertain), raw_lang, float(raw_prob), decided,
                                     raw_top))
    return guesses
