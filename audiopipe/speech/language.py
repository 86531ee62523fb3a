"""Spoken language of every speech turn: what each turn says, then what is decided over the file.

Most Whisper tools pick one language per file from its first 30 seconds; evidence files
switch languages, so every turn is heard on its own (``evidence``). A short turn says
little, though: Whisper base names the language of about half of the turns under 1 s it
hears and three in four of those of 1-3 s (bench/speech.py, part 5), and diarization cuts
one utterance into pieces at short pauses. So one speaker's consecutive turns with short pauses between them
(``language_join_gap_s``, no other turn between, at most ``language_evidence_max_s``)
are also heard together, as one stretch (``stretches``).

The decision (``decide``) is taken over the file: each speaker's stretches form a chain in
time order in which changing language costs ``language_switch_cost`` nats, each
stretch's log-probabilities count in proportion to its speech (fully from
``language_evidence_full_s``; at ``language_gunfire_weight`` under gunfire), and a
speaker's first stretch starts from the other speakers' languages (never its own: each
turn's evidence counts once), mixed with a flat prior. A long turn in another language
wins; a 1-s turn rarely does on its own. The most likely sequence (Viterbi) is the
decision, and its probability is the posterior of the chain (forward-backward), the belief
outside the candidate languages kept as a state of its own. Where the model is known to
hear one language for another (``Confusions``: Azerbaijani as Turkish), the decision is
marked ``could_be`` and its probability scaled by the share of such decisions that were right.

Kept for every turn: the turn's own detection (``raw_*``, on its own audio), the decided
language, its posterior and top three, and ``decided_by`` (``turn``: its own evidence;
``speaker``: the speaker's other turns, or the stretch it belongs to; ``file``: the rest
of the file; ``forced``; ``restricted``).
A turn is ``language_uncertain`` when its own evidence disagrees with the decision or is
weak (its own top language under ``language_threshold``: the label then rests on the other
turns, which may be another voice that diarization gave the same label), the
posterior is under ``language_threshold`` (``language_switch_min_prob`` where the speaker
changes language at that turn), the turn is under ``min_certain_turn_s``, or the user's
expected languages (``languages``) hold under ``language_threshold`` of the model's
unrestricted belief. A 1-s turn of another language inside a stretch is therefore
labelled with the stretch's language and flagged, never silently relabelled.

Evidence is cheap on purpose: a turn's (or stretch's) first ``language_evidence_max_s``
seconds, with zero samples appended up to ``language_min_window_s`` (not the whole 30-s
window; the encoder's cost grows with its input, and bench/speech.py measures what that
costs in accuracy). The windows that are decoded later are encoded again, once, for
everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.special import logsumexp

from ..config import SpeechConfig
from ..records import LanguageGuess, Turn

SAMPLE_RATE_HZ = 16000
PROB_FLOOR = 1e-4  # a language the model gives less than this is no less likely than this
CANDIDATES = 3  # each turn's top languages that the decision chooses among


@dataclass(frozen=True)
class Confusions:
    """Where a language-ID model is known to be weak (``audiopipe/models/language_confusions.yaml``,
    built by ``make language-confusions``): a decided language -> the languages it may really
    be (``could_be``), and the share of that model's confident decisions of that language that
    were right on real speech (``share_right``), by which its posterior is scaled."""

    could_be: dict[str, tuple[str, ...]]
    share_right: dict[str, float]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Confusions:
        heard = data.get("confusions") or {}
        return cls({k: tuple(v["could_be"]) for k, v in heard.items()},
                   {k: float(v["share_right"]) for k, v in heard.items()})


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


@dataclass(frozen=True)
class Evidence:
    """What the audio says of the languages of a file's turns.

    own: each turn's probabilities on its own audio (reported as the turn's ``raw_*``);
    stretches: the turns heard together (``stretches``), in time order; joined: the
    probabilities of each stretch's audio (the turns' audio end to end; a stretch of one
    turn is that turn's own)."""

    own: list[dict[str, float]]
    stretches: list[tuple[int, ...]]
    joined: list[dict[str, float]]

    @classmethod
    def alone(cls, own: list[dict[str, float]]) -> Evidence:
        """Every turn a stretch of its own."""
        return cls(own, [(i,) for i in range(len(own))], own)


def stretches(turns: Sequence[Turn], cfg: SpeechConfig) -> list[tuple[int, ...]]:
    """Turns heard together, in time order: consecutive turns of one speaker with no other
    turn starting between them, pauses of at most ``language_join_gap_s``, at most
    ``language_evidence_max_s`` from the first start to the last end.

    Diarization cuts one utterance into pieces at short pauses; Whisper base hears the
    language of the whole better than of its pieces (bench/speech.py, part 5: utterances of
    1.5-4 s cut into 2-3 turns, 80 % decided right from the pieces, 86 % heard together)."""
    out: list[tuple[int, ...]] = []
    for i in sorted(range(len(turns)), key=lambda i: (turns[i].start_s, turns[i].end_s)):
        t = turns[i]
        if out:
            last = out[-1]
            end_s = max(turns[j].end_s for j in last)
            if (turns[last[-1]].speaker == t.speaker and t.start_s - end_s <= cfg.language_join_gap_s
                    and t.end_s - turns[last[0]].start_s <= cfg.language_evidence_max_s):
                out[-1] = last + (i,)
                continue
        out.append((i,))
    return out


def evidence(audio_16k: np.ndarray, turns: list[Turn], detector: LanguageDetector, cfg: SpeechConfig) -> Evidence:
    """Each turn's own language probabilities, and each stretch's (``stretches``) on its
    joined audio. audio_16k: shape = (n_samples,), the whole track."""
    groups = stretches(turns, cfg)
    max_samples = int(cfg.language_evidence_max_s * SAMPLE_RATE_HZ)
    clips = [clip(audio_16k, t.start_s, t.end_s)[:max_samples] for t in turns]
    several = [g for g in groups if len(g) > 1]
    clips += [np.concatenate([clips[j] for j in g])[:max_samples] for g in several]
    order = sorted(range(len(clips)), key=lambda i: clips[i].size)  # batches of like lengths pad least
    probs: list[dict[str, float]] = [{} for _ in clips]
    for k in range(0, len(order), cfg.batch_size):
        batch = order[k:k + cfg.batch_size]
        encoded = detector.encode([clips[i] for i in batch], cfg.language_min_window_s)
        for i, p in zip(batch, detector.language_probs(encoded)):
            probs[i] = p
    own = probs[:len(turns)]
    joined = iter(probs[len(turns):])
    return Evidence(own, groups, [own[g[0]] if len(g) == 1 else next(joined) for g in groups])


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


def decide(turns: list[Turn], heard: Evidence, cfg: SpeechConfig,
           under_fire: Sequence[bool] | None = None, confusions: Confusions | None = None
           ) -> list[LanguageGuess]:
    """One ``LanguageGuess`` per turn from what the audio says (``evidence``).

    The chain's links are the stretches: the turns of a stretch get its decision, each
    keeps its own detection (``raw_*``) and is flagged where that disagrees.
    under_fire: per turn, whether gunshots fall inside it (its evidence then counts less).
    confusions: where the model is weak (``Confusions``): a turn decided as a language it
    confuses is marked ``could_be`` (unless the expected ``languages`` rule those out) and its
    probability scaled by the share of such decisions that were right.

    Each stretch's evidence counts once: a speaker's chain starts from the languages of the
    file's other speakers, mixed with a flat prior (``language_prior_share`` of the first; no
    other speaker: flat), never from its own turns; and the model's belief outside the
    candidates stays as one more state instead of being spread over the candidates, so that
    ``language_prob`` is no surer than the evidence.
    """
    if cfg.language:
        return [LanguageGuess(i, t.track, t.start_s, t.end_s, t.speaker, cfg.language, 1.0,
                              ((cfg.language, 1.0),), False, cfg.language, 1.0, "forced")
                for i, t in enumerate(turns)]
    if not turns:
        return []
    own = [_restrict(p, cfg.languages) for p in heard.own]
    joined = [_restrict(p, cfg.languages)[0] for p in heard.joined]
    # the candidates: languages some turn or stretch puts in its top three; the rest of each
    # one's belief is the state OTHER (over all 99 of Whisper's, the long tail of languages
    # nothing supports would share most of a short turn's posterior)
    names = sorted({k for p in [p for p, _ in own] + joined
                    for k, _ in sorted(p.items(), key=lambda kv: -kv[1])[:CANDIDATES]})
    other = len(names)  # the index of OTHER among the chain's states

    def states(p: dict[str, float]) -> list[float]:
        named = [p.get(k, 0.0) for k in names]
        return named + [max(0.0, 1.0 - sum(named))]

    own_p = np.array([states(p) for p, _ in own])  # (n_turns, n_states)
    probs = np.array([states(p) for p in joined])  # (n_stretches, n_states)
    groups = heard.stretches
    dur = np.array([sum(max(turns[j].duration_s, 0.0) for j in g) for g in groups])
    weight = np.minimum(1.0, dur / cfg.language_evidence_full_s)
    if under_fire is not None:
        fire = np.array([any(under_fire[j] for j in g) for g in groups], bool)
        weight = np.where(fire, weight * cfg.language_gunfire_weight, weight)
    emit = weight[:, None] * np.log(np.maximum(probs, PROB_FLOOR))

    post = np.zeros_like(probs)
    path = np.zeros(len(groups), int)
    chains: dict[str | None, list[int]] = {}
    position: dict[int, int] = {}  # a stretch's place in its speaker's chain (stretches come in time order)
    for k, g in enumerate(groups):
        chain = chains.setdefault(turns[g[0]].speaker, [])
        position[k] = len(chain)
        chain.append(k)
    for members in chains.values():
        rest = np.setdiff1d(np.arange(len(groups)), members)
        mass = (weight[rest] * dur[rest]) @ probs[rest] if rest.size else np.zeros(len(names) + 1)
        flat = np.full(len(names) + 1, 1.0 / (len(names) + 1))  # a language no one else speaks stays possible
        share = cfg.language_prior_share if mass.sum() > 0 else 0.0
        prior = share * mass / max(mass.sum(), 1e-12) + (1.0 - share) * flat
        start = cfg.language_file_prior_weight * np.log(np.maximum(prior, PROB_FLOOR))
        post[members], path[members] = _chain(emit[members], start, cfg.language_switch_cost)

    stretch_of = {i: k for k, g in enumerate(groups) for i in g}
    guesses = []
    for i, t in enumerate(turns):
        k = stretch_of[i]
        raw_top = _top(names, own_p[i, :other])
        raw_lang, raw_prob = raw_top[0]
        unknown = path[k] == other  # most of the belief lies outside every candidate
        best = path[k] if not unknown else int(np.argmax(post[k, :other]))
        lang, prob = names[best], float(post[k, best])
        mass = own[i][1]
        chain, c = chains[t.speaker], position[k]
        if lang == raw_lang:
            decided = "restricted" if cfg.languages else "turn"
        elif len(groups[k]) > 1 or len(chain) > 1:
            decided = "speaker"
        else:
            decided = "file"
        switch = any(path[j] != path[k] for j in chain[max(0, c - 1): c + 2])
        uncertain = (unknown or lang != raw_lang or raw_prob < cfg.language_threshold
                     or prob < cfg.language_threshold or t.duration_s < cfg.min_certain_turn_s
                     or mass < cfg.language_threshold or switch and prob < cfg.language_switch_min_prob)
        could_be = tuple(x for x in (confusions.could_be.get(lang, ()) if confusions else ())
                         if not cfg.languages or x in cfg.languages)
        if could_be:
            prob *= confusions.share_right.get(lang, 1.0)
        top3 = _top(names, post[k, :other])
        if could_be and could_be[0] not in dict(top3):  # the reviewer sees what else it may be
            alt = could_be[0]
            top3 = top3[:2] + ((alt, round(float(post[k, names.index(alt)]), 4) if alt in names else 0.0),)
        guesses.append(LanguageGuess(i, t.track, t.start_s, t.end_s, t.speaker, lang, round(prob, 4),
                                     top3, bool(uncertain), raw_lang, float(raw_prob), decided,
                                     raw_top, could_be))
    return guesses
