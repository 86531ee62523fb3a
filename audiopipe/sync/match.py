"""Which tracks hear the same moments, and where each sits on a common clock (``match``).

1. Candidates from the landmark index: every hash held by two tracks (and by few tracks in
   all: a common hash says nothing) votes for the offset between them; a pair whose best
   offset (16-ms bins, the neighbours' votes added) gathers ``min_votes`` is a candidate. The
   cost grows with the number of landmarks, not the number of pairs.
2. Each candidate's offset refined on the onset envelopes (2 ms) where the two overlap: the
   lag of the highest normalised cross-correlation within 48 ms of the landmarks' offset,
   interpolated between samples; ``confidence`` is that correlation (0.9 and more between
   copies of one recording, often under 0.2 between two microphones of one room, whose
   offset the landmarks' votes still carry). Drift: the same on the first and last thirds of
   a long overlap of one recording's copies, the change of offset over the time between them.
3. Pairs with ``confidence`` and ``overlap_s`` enough are joined into groups (union-find); each
   track's ``offset_s`` is where its 0 s falls on the group's clock (the earliest at 0).
   ``relation``: ``same_recording`` where the envelopes agree almost sample for sample
   (``same_recording_confidence``), else ``same_scene``.
Records: ``SyncPair``, ``SyncRow``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SyncConfig
from .fingerprint import ENV_RATE_HZ, FRAME_S, Fingerprint

MAX_TRACKS_PER_HASH = 50  # a hash held by more tracks than this votes for nothing
REFINE_S = 0.048  # the envelope search around the landmarks' offset
DRIFT_MIN_S = 30.0  # an overlap this long has its drift measured


@dataclass(frozen=True)
class SyncPair:
    a: int  # node indices (a track of a file)
    b: int
    offset_s: float  # a's time minus b's for the same sound
    confidence: float  # the envelopes' correlation at that offset
    overlap_s: float
    drift_ppm: float | None  # between copies of one recording (None: not measured)
    votes: int  # landmark pairs agreeing on the offset


@dataclass(frozen=True)
class SyncRow:
    """One track in a group: where its 0 s falls on the group's clock."""

    group: int
    node: int
    offset_s: float
    drift_ppm: float | None
    overlap_s: float
    relation: str
    confidence: float
    matched_with: int
    votes: int


def candidates(prints: list[Fingerprint], min_votes: int) -> list[tuple[int, int, int, int]]:
    """(a, b, offset in landmark frames, votes) for every pair the index pairs up, a < b."""
    if len(prints) < 2:
        return []
    node = np.concatenate([np.full(p.hashes.size, i, np.int64) for i, p in enumerate(prints)])
    hashes = np.concatenate([p.hashes for p in prints])
    times = np.concatenate([p.times for p in prints])
    order = np.argsort(hashes, kind="stable")
    hashes, node, times = hashes[order], node[order], times[order]
    edges = np.flatnonzero(np.diff(hashes)) + 1
    votes: dict[tuple[int, int], dict[int, int]] = {}
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, hashes.size]):
        if hi - lo < 2:
            continue
        nodes = node[lo:hi]
        held = np.unique(nodes)
        if held.size < 2 or held.size > MAX_TRACKS_PER_HASH:
            continue
        for i in range(lo, hi):
            for j in range(i + 1, hi):
                a, b = node[i], node[j]
                if a == b:
                    continue
                dt = times[i] - times[j]
                key = (a, b) if a < b else (b, a)
                dt = dt if a < b else -dt
                per = votes.setdefault((int(key[0]), int(key[1])), {})
                per[int(dt)] = per.get(int(dt), 0) + 1
    out = []
    for (a, b), per in votes.items():
        best = max(per, key=lambda d: per[d] + per.get(d - 1, 0) + per.get(d + 1, 0))
        n = per[best] + per.get(best - 1, 0) + per.get(best + 1, 0)
        if n >= min_votes:
            out.append((a, b, best, n))
    return out


def _refine(ea: np.ndarray, eb: np.ndarray, guess_s: float) -> tuple[float, float]:
    """(offset_s, correlation) of two envelopes near ``guess_s`` (a's time minus b's)."""
    lag0 = int(round(guess_s * ENV_RATE_HZ))
    reach = int(round(REFINE_S * ENV_RATE_HZ))
    best = (-2.0, lag0)
    scores = {}
    for lag in range(lag0 - reach, lag0 + reach + 1):
        # a[t] against b[t - lag]
        lo, hi = max(0, lag), min(ea.size, eb.size + lag)
        if hi - lo < ENV_RATE_HZ:
            continue
        x, y = ea[lo:hi], eb[lo - lag: hi - lag]
        sx, sy = x.std(), y.std()
        c = float(((x - x.mean()) * (y - y.mean())).mean() / (sx * sy)) if sx > 0 and sy > 0 else 0.0
        scores[lag] = c
        best = max(best, (c, lag))
    c, lag = best
    frac = 0.0
    if lag - 1 in scores and lag + 1 in scores:  # the peak between samples (a parabola)
        y0, y1, y2 = scores[lag - 1], c, scores[lag + 1]
        denom = y0 - 2 * y1 + y2
        frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return (lag + frac) / ENV_RATE_HZ, c


def refine(pa: Fingerprint, pb: Fingerprint, guess_s: float, drift_confidence: float = 0.8
           ) -> tuple[float, float, float, float | None]:
    """(offset_s, confidence, overlap_s, drift_ppm) of a candidate pair; the drift where the
    overlap is long and both of its thirds correlate at ``drift_confidence`` (copies of one
    recording: between devices the envelope is too coarse for it), else None."""
    ea, eb = pa.envelope.astype(np.float32), pb.envelope.astype(np.float32)
    offset, conf = _refine(ea, eb, guess_s)
    start, end = max(0.0, offset), min(pa.duration_s, pb.duration_s + offset)  # the overlap on a's clock
    overlap = max(0.0, end - start)
    drift = None
    if overlap >= DRIFT_MIN_S and conf >= drift_confidence:
        third = overlap / 3
        parts = []
        for lo in (start, end - third):
            a0, a1 = int(lo * ENV_RATE_HZ), int((lo + third) * ENV_RATE_HZ)
            ea_part = np.zeros_like(ea)
            ea_part[a0:a1] = ea[a0:a1]
            parts.append((lo + third / 2, *_refine(ea_part, eb, offset)))
        (t1, o1, c1), (t2, o2, c2) = parts
        if min(c1, c2) >= drift_confidence:
            drift = (o2 - o1) / (t2 - t1) * 1e6
    return offset, conf, overlap, drift


def match(prints: list[Fingerprint], cfg: SyncConfig) -> tuple[list[SyncPair], list[SyncRow]]:
    """The accepted pairs, and a row per grouped track (tracks in no group have none)."""
    pairs = []
    for a, b, frames, votes in candidates(prints, cfg.min_votes):
        offset, conf, overlap, drift = refine(prints[a], prints[b], frames * FRAME_S, cfg.same_recording_confidence)
        if conf >= cfg.min_confidence and overlap >= cfg.min_overlap_s:
            pairs.append(SyncPair(a, b, round(offset, 5), round(conf, 4), round(overlap, 3),
                                  None if drift is None else round(drift, 1), votes))
    parent = list(range(len(prints)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for p in sorted(pairs, key=lambda p: -p.confidence):
        parent[root(p.a)] = root(p.b)
    rows = []
    groups = sorted({root(i) for p in pairs for i in (p.a, p.b)})
    for g, r in enumerate(groups):
        members = [i for i in range(len(prints)) if root(i) == r]
        # each member's 0 s on the first member's clock, through the strongest pairs (a tree)
        clock = {members[0]: (0.0, None)}
        best_pairs = sorted((p for p in pairs if root(p.a) == r), key=lambda p: -p.confidence)
        while len(clock) < len(members):
            for p in best_pairs:
                if (p.a in clock) != (p.b in clock):
                    if p.a in clock:  # t_a = t_b + offset: b's 0 s is at a's offset
                        clock[p.b] = (clock[p.a][0] + p.offset_s, p)
                    else:
                        clock[p.a] = (clock[p.b][0] - p.offset_s, p)
                    break
            else:
                break
        first = min(v[0] for v in clock.values())
        for i in members:
            at, p = clock[i]
            via = p or max((q for q in best_pairs if i in (q.a, q.b)), key=lambda q: q.confidence)
            other = via.b if via.a == i else via.a
            drift = None if via.drift_ppm is None else (via.drift_ppm if via.a == i else -via.drift_ppm)
            rows.append(SyncRow(g, i, round(at - first, 4), drift, via.overlap_s,
                                "same_recording" if via.confidence >= cfg.same_recording_confidence else "same_scene",
                                via.confidence, other, via.votes))
    return pairs, rows
