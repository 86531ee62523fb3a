"""Re-segmentation after pyannote (``Resegmenter``): CAM++ windows over the turns, turns cut
where the voice changes, a speaker whose turns sound like two voices split, windows and short
turns reassigned to the nearest speaker.

One idea in one class: the three steps share the turns' window embeddings and the speakers'
centroids, computed once per track in ``__call__``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config import DiarizationConfig
from ..records import Turn
from .campplus import SAMPLE_RATE_HZ, CAMPlusPlus
from .speakers import MIN_TURN_S, new_label, one_turn_at_a_time, split_speakers, talkers

MIN_SHORT_S = 0.3  # a speaker's short turns, end to end, embedded when at least this long
RESEGMENT_BATCH = 32  # re-segmentation windows embedded in one forward pass


@dataclass
class Resegmenter:
    """Re-segmentation after pyannote: CAM++ windows over the turns (``__call__``).

    pyannote's segmentation sometimes gives two voices one local label inside a 10-s
    window (far-field meetings, people taking turns with short gaps); clustering cannot
    undo that, so the turns are heard again with ``resegment_window_s`` windows every
    ``resegment_hop_s``: cut where the voice changes, a speaker whose turns sound like two
    voices split, windows reassigned to the nearest speaker.
    """

    cfg: DiarizationConfig
    embedding: CAMPlusPlus

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        """The CAM++ embedding of a clip, unit length. audio_16k: shape = (n_samples,)."""
        with torch.inference_mode():
            e = self.embedding(torch.from_numpy(np.ascontiguousarray(audio_16k))[None, None]).numpy()[0]
        return e / (np.linalg.norm(e) + 1e-9)

    def windows(self, audio_16k: np.ndarray, t: Turn) -> tuple[np.ndarray, np.ndarray]:
        """CAM++ embeddings of ``resegment_window_s`` windows every ``resegment_hop_s`` over a
        turn: (starts_s, shape = (n,), embeddings, shape = (n, 192), unit length)."""
        win, rate = self.cfg.resegment_window_s, SAMPLE_RATE_HZ
        starts = np.arange(t.start_s, t.end_s - win + 1e-6, self.cfg.resegment_hop_s)
        if not starts.size:
            return starts, np.zeros((0, self.embedding.dimension))
        n = int(round(win * rate))
        clips = np.stack([np.pad(c, (0, n - c.size)) for c in (audio_16k[int(s0 * rate): int(s0 * rate) + n]
                                                               for s0 in starts)])
        embs = []
        with torch.inference_mode():
            for i in range(0, len(clips), RESEGMENT_BATCH):  # one forward per batch of windows
                embs.append(self.embedding(torch.from_numpy(np.ascontiguousarray(clips[i:i + RESEGMENT_BATCH]))[:, None]
                                           ).numpy())
        e = np.concatenate(embs)
        return starts, e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)

    def cut_s(self, window_start_s: float) -> float:
        """Where a change that shows first in the window starting at ``window_start_s`` is cut:
        halfway through the overlap of that window and the one before."""
        return round(float(window_start_s) + self.cfg.resegment_window_s / 2 - self.cfg.resegment_hop_s / 2, 3)

    def __call__(self, audio_16k: np.ndarray, turns: list[Turn]) -> list[Turn]:
        """pyannote's turns, relabelled where they sound like another speaker. Each turn at
        least two windows long is scanned (``windows``).

        1. Split: a turn is cut where its voice changes (``change_points``). The longest
           piece keeps the turn's speaker; another piece goes to the speaker whose centroid
           (mean over that speaker's turns of 1 s or more; for a speaker with only shorter
           turns, those turns end to end) it is most like, or to a new speaker when none
           reaches ``resegment_split_similarity``; a piece like a speaker with a turn over
           it keeps the turn's speaker.
        2. Split speakers: a speaker whose turns sound like two voices is split
           (``speakers.split_speakers``).
        3. Reassign: a window closer to another speaker's centroid by more than
           ``resegment_margin`` goes to that speaker; a turn too short to scan (at least
           ``MIN_SHORT_S``) goes whole to another speaker whose centroid its own embedding is
           more like by more than ``resegment_short_margin`` (pyannote labels a short turn
           by the 10-s chunk around it, and near a change of speaker a few words can take
           the next voice's label).

        No step gives a piece of speech to a speaker who already has a turn over it: where
        two voices overlap, the embedding leans to the louder one, and that one is already
        labelled there (pyannote's overlap turns stay as they are).
        """
        win = self.cfg.resegment_window_s
        rate = SAMPLE_RATE_HZ

        memo: dict[tuple[float, float], np.ndarray] = {}

        def turn_embedding(i: int, t: Turn, scans: dict) -> np.ndarray:
            """A turn's voice: the mean of its window embeddings when scanned (already
            computed), else the CAM++ embedding of the turn itself (kept by its bounds)."""
            if i in scans and len(scans[i][1]):
                m = scans[i][1].mean(axis=0)
                return m / (np.linalg.norm(m) + 1e-9)
            if (t.start_s, t.end_s) not in memo:
                memo[(t.start_s, t.end_s)] = self.embed(audio_16k[int(t.start_s * rate): int(t.end_s * rate)])
            return memo[(t.start_s, t.end_s)]

        def centroids_of(labelled: list[Turn], scans: dict, short_too: bool = False) -> dict[str, np.ndarray]:
            """Mean embedding of each speaker's turns of ``MIN_TURN_S`` or more; with
            ``short_too``, a speaker who has only shorter turns gets the embedding of them put
            end to end."""
            out = {}
            for spk in sorted({t.speaker for t in labelled}):
                embs, short = [], []
                for i, t in enumerate(labelled):
                    if t.speaker != spk:
                        continue
                    if (i in scans and len(scans[i][1])) or t.duration_s >= MIN_TURN_S:
                        embs.append(turn_embedding(i, t, scans))
                    else:
                        short.append(audio_16k[int(t.start_s * rate): int(t.end_s * rate)])
                if not embs and short_too and sum(a.size for a in short) >= MIN_SHORT_S * rate:
                    embs = [self.embed(np.concatenate(short))]
                if embs:
                    c = np.mean(embs, axis=0)
                    out[spk] = c / np.linalg.norm(c)
            return out

        scans = {i: self.windows(audio_16k, t) for i, t in enumerate(turns) if t.duration_s >= 2 * win}
        if self.cfg.resegment_split_similarity > 0:
            turns, scans = self.split(turns, scans, centroids_of(turns, scans, short_too=True))
        if self.cfg.speaker_split_similarity > 0:
            turns = split_speakers(turns, lambda i, t: turn_embedding(i, t, scans), self.cfg.speaker_split_similarity)
        centroids = centroids_of(turns, scans)
        if len(centroids) < 2:
            return one_turn_at_a_time(turns)
        names = list(centroids)
        matrix = np.stack([centroids[n] for n in names])
        talking_in = talkers(turns)
        out: list[Turn] = []
        for i, t in enumerate(turns):
            if i not in scans or t.speaker not in centroids or len(scans[i][0]) < 2:
                out.append(self._reassign_short(
                    t, lambda: turn_embedding(i, t, scans), names, matrix,
                    lambda: talking_in(t.start_s, t.end_s, i)))
                continue
            starts, embs = scans[i]
            labels = []
            own = names.index(t.speaker)
            half_hop = self.cfg.resegment_hop_s / 2
            for s0, e in zip(starts, embs):
                centre_s = s0 + win / 2  # a window labels the hop around its centre
                sims = matrix @ e
                best = int(np.argmax(sims))
                moved = sims[best] - sims[own] > self.cfg.resegment_margin
                # a window like a voice that has its own turn there is that voice heard under
                # this one (overlap), not a change of speaker
                if moved and names[best] not in talking_in(centre_s - half_hop, centre_s + half_hop, i):
                    labels.append(names[best])
                else:
                    labels.append(t.speaker)
            run_start, current = t.start_s, labels[0]
            for s0, lab in zip(starts[1:], labels[1:]):
                if lab != current:
                    cut = self.cut_s(s0)
                    out.append(Turn(t.track, round(run_start, 3), cut, current, t.source))
                    run_start, current = cut, lab
            out.append(Turn(t.track, round(run_start, 3), t.end_s, current, t.source))
        return one_turn_at_a_time(out)

    def _reassign_short(self, t: Turn, embedding: Callable[[], np.ndarray], names: list[str],
                        matrix: np.ndarray, busy: Callable[[], set[str]]) -> Turn:
        """A turn too short to scan, relabelled when its own embedding is more like another
        speaker's centroid than its own by more than ``resegment_short_margin``. Speakers
        with a turn overlapping it (``busy``) are not candidates: an overlapped short turn is
        a second voice, and its embedding leans to the louder one that is already labelled.
        ``embedding`` and ``busy`` are only called for a turn the step applies to."""
        margin = self.cfg.resegment_short_margin
        if margin <= 0 or t.speaker not in names or t.duration_s < MIN_SHORT_S:
            return t
        talking = busy()
        sims = np.where([n in talking and n != t.speaker for n in names], -np.inf, matrix @ embedding())
        best = int(np.argmax(sims))
        if sims[best] - sims[names.index(t.speaker)] > margin:
            return Turn(t.track, t.start_s, t.end_s, names[best], t.source)
        return t

    def split(self, turns: list[Turn], scans: dict, centroids: dict[str, np.ndarray]
               ) -> tuple[list[Turn], dict]:
        """Step 1 of the re-segmentation: turns cut at voice changes, pieces labelled."""
        taken = {t.speaker for t in turns}
        new_voices: list[tuple[str, np.ndarray]] = []  # speakers this step created
        talking_in = talkers(turns)
        out: list[Turn] = []
        out_scans = {}
        for i, t in enumerate(turns):
            cuts = change_points(scans[i][1], self.cfg.resegment_split_similarity) if i in scans else []
            if not cuts:
                if i in scans:
                    out_scans[len(out)] = scans[i]
                out.append(t)
                continue
            starts, embs = scans[i]
            idx = [0, *cuts, len(starts)]
            bounds = [t.start_s] + [self.cut_s(starts[k]) for k in cuts] + [t.end_s]
            longest = int(np.argmax(np.diff(bounds)))
            for p, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                piece_embs = embs[idx[p]: idx[p + 1]]
                voice = piece_embs.mean(axis=0)
                voice /= np.linalg.norm(voice) + 1e-9
                speaker = t.speaker
                if p != longest:
                    known = [(spk, float(c @ voice)) for spk, c in centroids.items() if spk != t.speaker]
                    known += [(spk, float(c @ voice)) for spk, c in new_voices]
                    spk, sim = max(known, key=lambda kv: kv[1], default=(None, -1.0))
                    if sim >= self.cfg.resegment_split_similarity:
                        # like a voice with its own turn here: that voice under this one (overlap)
                        speaker = t.speaker if spk in talking_in(a, b, i) else spk
                    else:
                        speaker = new_label(taken)
                        new_voices.append((speaker, voice))
                out_scans[len(out)] = (starts[idx[p]: idx[p + 1]], piece_embs)
                out.append(Turn(t.track, round(a, 3), round(b, 3), speaker, t.source))
        return out, out_scans


def change_points(embs: np.ndarray, threshold: float, offset: int = 0) -> list[int]:
    """Window indices where the voice changes inside one turn (binary segmentation): the
    split whose two sides' mean embeddings are least alike, while their cosine similarity
    is under ``threshold`` (``resegment_split_similarity``), each side at least two windows long."""
    n = len(embs)
    if n < 4:
        return []
    # cosine of the two sides' sums (the same as of their means) for every split k in 2..n-2
    csum = np.cumsum(embs, axis=0)
    left = csum[1: n - 2]
    right = csum[-1] - left
    sims = (left * right).sum(axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1) + 1e-9)
    best_k, best_sim = int(np.argmin(sims)) + 2, float(sims.min())
    if best_sim >= threshold:
        return []
    return (change_points(embs[:best_k], threshold, offset) + [offset + best_k]
            + change_points(embs[best_k:], threshold, offset + best_k))
