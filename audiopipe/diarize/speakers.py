"""Speaker labels over a track's turns: who else is talking over a stretch (``talkers``,
``overlapped_s``), new labels (``new_label``), one speaker's overlapping turns joined
(``one_turn_at_a_time``), and step 2 of the re-segmentation, one label on two voices across
turns (``split_speakers``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..records import Turn, union

MIN_TURN_S = 1.0  # a turn this long is embedded on its own (speaker centroids, speaker splits)


def split_speakers(turns: list[Turn], embedding: Callable[[int, Turn], np.ndarray], threshold: float) -> list[Turn]:
    """Step 2 of the re-segmentation: one label, two voices, across turns.

    pyannote clusters 10-s chunks: when two people take turns with short gaps, the
    segmentation can give both one local label in every chunk they share, and the chunk
    embeddings are then of a mixture, which clustering puts in one speaker. The turns
    themselves are single voices: each speaker's turns of ``MIN_TURN_S`` or more are
    grouped by average linkage of their embeddings, stopping where two groups are less
    alike than ``threshold`` (``speaker_split_similarity``). The group with the most speech keeps the
    label; another goes to the speaker (or the voice split off before) whose turns it is
    most like, if it reaches ``threshold``, else to a new speaker.
    Turns shorter than ``MIN_TURN_S`` keep their label, and so does a group that the
    speaker it is most like overlaps for half its length or more: overlapped speech
    embeds as the louder voice, which already has its own turn there.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    embs = {i: embedding(i, t) for i, t in enumerate(turns) if t.duration_s >= MIN_TURN_S}

    def voice(ids: list[int]) -> np.ndarray:
        v = np.sum([embs[i] * turns[i].duration_s for i in ids], axis=0)
        return v / (np.linalg.norm(v) + 1e-9)

    groups: dict[str, list[list[int]]] = {}
    for spk in sorted({t.speaker for t in turns}):
        ids = [i for i in embs if turns[i].speaker == spk]
        if len(ids) < 2:
            groups[spk] = [ids]
            continue
        found = fcluster(linkage(np.stack([embs[i] for i in ids]), method="average", metric="cosine"),
                         t=1.0 - threshold, criterion="distance")
        parts = [[i for i, g in zip(ids, found) if g == k] for k in sorted(set(found))]
        groups[spk] = sorted(parts, key=lambda part: -sum(turns[i].duration_s for i in part))
    voices = {spk: voice(parts[0]) for spk, parts in groups.items() if parts and parts[0]}
    taken = {t.speaker for t in turns}
    label = [t.speaker for t in turns]
    for spk, parts in groups.items():
        for part in parts[1:]:
            v = voice(part)
            known = [(other, float(c @ v)) for other, c in voices.items() if other != spk]
            best, sim = max(known, key=lambda kv: kv[1], default=(None, -1.0))
            if sim >= threshold and (sum(overlapped_s(turns, i, best) for i in part)
                                     >= sum(turns[i].duration_s for i in part) / 2):
                continue  # mostly under that speaker's own turns: their voice heard under this one
            if sim < threshold:
                best = new_label(taken)
                voices[best] = v
            for i in part:
                label[i] = best
    return [t if lab == t.speaker else Turn(t.track, t.start_s, t.end_s, lab, t.source)
            for t, lab in zip(turns, label)]



def one_turn_at_a_time(turns: list[Turn]) -> list[Turn]:
    """Turns sorted by start, a speaker's overlapping turns joined into one (the edges of a
    relabelled window run can reach into another turn of the same speaker)."""
    out: list[Turn] = []
    last: dict[str, int] = {}  # speaker -> index in out of their latest turn
    for t in sorted(turns, key=lambda t: (t.start_s, t.end_s)):
        j = last.get(t.speaker)
        if j is not None and t.start_s < out[j].end_s:
            out[j] = Turn(t.track, out[j].start_s, max(out[j].end_s, t.end_s), t.speaker, out[j].source)
            continue
        last[t.speaker] = len(out)
        out.append(t)
    return out


def talkers(turns: list[Turn]) -> Callable[[float, float, int], set[str]]:
    """(start_s, end_s, i) -> the speakers with a turn other than ``turns[i]`` overlapping
    [start_s, end_s)."""
    begin_s = np.array([t.start_s for t in turns])
    end_s = np.array([t.end_s for t in turns])

    def talking(start_s: float, end_s_: float, i: int) -> set[str]:
        return {turns[j].speaker for j in np.flatnonzero((begin_s < end_s_) & (end_s > start_s)) if j != i}
    return talking


def overlapped_s(turns: list[Turn], i: int, by: str) -> float:
    """How long speaker ``by``'s turns (their union) overlap ``turns[i]``, in seconds."""
    t = turns[i]
    return sum(b - a for a, b in union([(max(o.start_s, t.start_s), min(o.end_s, t.end_s)) for o in turns
                                        if o.speaker == by and o.start_s < t.end_s and o.end_s > t.start_s]))


def new_label(taken: set[str]) -> str:
    """The first ``SPEAKER_NN`` not in ``taken``, added to it."""
    label = next(f"SPEAKER_{k:02d}" for k in range(len(taken) + 1) if f"SPEAKER_{k:02d}" not in taken)
    taken.add(label)
    return label

