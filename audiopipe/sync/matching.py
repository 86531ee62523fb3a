"""Which tracks hear the same moments, and where each sits on a common clock (``match``).

1. Candidates from the landmark index: every hash held by two tracks (and by few tracks in
   all: a common hash says nothing) votes for the offset between them; a pair whose best
   offset (16-ms bins, the neighbours' votes added) gathers ``min_votes`` is a candidate. The
   cost grows with the number of landmarks, not the number of pairs.
2. Each candidate's offset refined on the onset envelopes (2 ms) where the two overlap: the
   lag of the highest normalised cross-correlation within 48 ms of the landmarks' offset,
   interpolated between samples; ``confidence`` is that correlation (0.9 and more between
   copies of one recording, often under 0.2 between two microphones of one room, whose
   offset the landmarks' votes still carry). Drift: the slope of the matched landmarks' offsets
   along the overlap, taken out before the envelopes are compared where it is large (``refine``).
3. Pairs with ``confidence`` and ``overlap_s`` enough are joined into groups (union-find); each
   track's ``offset_s`` is where its 0 s falls on the group's clock (the earliest at 0) and its
   ``drift_ppm`` how fast its clock runs against the group's (composed along the strongest
   pairs; None where a pair on the way had none measured).
   ``relation``: ``same_recording`` where the two 20-ms level contours agree
   (``same_recording_level``: copies 0.84-1.0 on the bench, whatever their codecs; two
   microphones of one room at most 0.72), else ``same_scene``.
Records: ``SyncPair``, ``SyncRow``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SyncConfig
from .fingerprint import ENV_RATE_HZ, FRAME_S, LEVEL_STEP, Fingerprint

MAX_TRACKS_PER_HASH = 50  # a hash held by more tracks than this votes for nothing
MAX_ENTRIES_PER_HASH = 400  # nor one held this many times (a sound repeated all through a file)
REFINE_S = 0.048  # the envelope search around the landmarks' offset
DRIFT_MIN_S = 30.0  # matched landmarks spread this long have their drift measured
LINE_REACH_S = 0.1  # landmarks within this of the pair's offset are matched (0.1 % over 100 s)
LINE_MIN_POINTS = 30
WARP_PPM = 50.0  # a drift this large is taken out before the envelopes are compared
DRIFT_CONFIDENCE = 0.5  # a smaller drift is reported where the envelopes agree this well  # and the points lie this close to one line (one recording's copies)


@dataclass(frozen=True)
class SyncPair:
    a: int  # node indices (a track of a file)
    b: int
    offset_s: float  # where b's 0 s falls on a's clock (a's time minus b's for the same sound, without drift)
    confidence: float  # the envelopes' correlation at that offset
    overlap_s: float
    drift_ppm: float | None  # between copies of one recording (None: not measured)
    votes: int  # landmark pairs agreeing on the offset
    level_agreement: float = 0.0  # the two level contours' correlation at the offset (copies: 0.8-1.0)


@dataclass(frozen=True)
class SyncRow:
    """One track in a group: where its 0 s falls on the group's clock, and how fast its clock runs
    against the group's (``drift_ppm``: a second of it is 1 + drift_ppm / 1e6 seconds there)."""

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
    found_a, found_b, found_dt = [], [], []
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, hashes.size]):
        if hi - lo < 2 or hi - lo > MAX_ENTRIES_PER_HASH:
            continue
        nodes, at = node[lo:hi], times[lo:hi]
        if nodes.min() == nodes.max() or np.unique(nodes).size > MAX_TRACKS_PER_HASH:
            continue
        a, b = np.meshgrid(np.arange(hi - lo), np.arange(hi - lo), indexing="ij")
        keep = nodes[a] < nodes[b]  # each pair of tracks once, a < b
        found_a.append(nodes[a[keep]])
        found_b.append(nodes[b[keep]])
        found_dt.append(at[a[keep]] - at[b[keep]])
    if not found_a:
        return []
    keys, counts = np.unique(np.stack([np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_dt)]),
                             axis=1, return_counts=True)
    votes: dict[tuple[int, int], dict[int, int]] = {}
    for (a, b, dt), n in zip(keys.T.tolist(), counts.tolist()):
        votes.setdefault((a, b), {})[dt] = n
    out = []
    for (a, b), per in votes.items():
        best = max(per, key=lambda d: per[d] + per.get(d - 1, 0) + per.get(d + 1, 0))
        n = per[best] + per.get(best - 1, 0) + per.get(best + 1, 0)
        if n >= min_votes:
            out.append((a, b, best, n))
    return out


def _refine(ea: np.ndarray, eb: np.ndarray, guess_s: float, span: tuple[int, int] | None = None
            ) -> tuple[float, float]:
    """(offset_s, correlation) of two envelopes near ``guess_s`` (a's time minus b's), over
    a's samples ``span`` (default: all that overlap)."""
    lag0 = int(round(guess_s * ENV_RATE_HZ))
    reach = int(round(REFINE_S * ENV_RATE_HZ))
    first, last = span or (0, ea.size)
    best = (-2.0, lag0)
    scores = {}
    for lag in range(lag0 - reach, lag0 + reach + 1):
        # a[t] against b[t - lag]
        lo, hi = max(first, lag), min(last, eb.size + lag)
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


def _on_a_clock(values_b: np.ndarray, rate_hz: float, n_a: int, offset_s: float, slope: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """A series of b's (sampled at ``rate_hz``) at a's ``n_a`` sample times, b's clock mapped onto
    a's (t_b = (t_a - offset_s) * (1 - slope)); 0 outside b, and where it lies inside b."""
    tb = (np.arange(n_a) / rate_hz - offset_s) * (1 - slope)
    inside = (tb >= 0) & (tb <= (values_b.size - 1) / rate_hz)
    return np.interp(tb * rate_hz, np.arange(values_b.size), values_b, left=0.0, right=0.0), inside


def _landmark_line(pa: Fingerprint, pb: Fingerprint, guess_s: float) -> tuple[float, float, int, float] | None:
    """The matched landmarks of a pair (same hash, offset within ``LINE_REACH_S`` of the guess)
    as a line offset(t_a) = at_zero + slope * t_a, fitted twice (the strays of the first fit
    left out): (at_zero_s, slope, points, span_s), or None with too few."""
    ia, ib = np.argsort(pa.hashes, kind="stable"), np.argsort(pb.hashes, kind="stable")
    ha, ta, hb, tb = pa.hashes[ia], pa.times[ia], pb.hashes[ib], pb.times[ib]
    common = np.intersect1d(ha, hb)
    lo_a, hi_a = np.searchsorted(ha, common, "left"), np.searchsorted(ha, common, "right")
    lo_b, hi_b = np.searchsorted(hb, common, "left"), np.searchsorted(hb, common, "right")
    xs, ys = [], []
    for a0, a1, b0, b1 in zip(lo_a, hi_a, lo_b, hi_b):
        if (a1 - a0) * (b1 - b0) > MAX_ENTRIES_PER_HASH:
            continue
        d = (ta[a0:a1, None] - tb[None, b0:b1]) * FRAME_S
        i, _ = np.nonzero(np.abs(d - guess_s) <= LINE_REACH_S)
        xs.append(ta[a0:a1][i] * FRAME_S)
        ys.append(d[np.abs(d - guess_s) <= LINE_REACH_S])
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.size < LINE_MIN_POINTS:
        return None
    keep = np.ones(x.size, bool)
    for _ in range(2):
        slope, at_zero = np.polyfit(x[keep], y[keep], 1)
        keep = np.abs(y - (at_zero + slope * x)) <= 1.5 * FRAME_S
        if keep.sum() < LINE_MIN_POINTS:
            return None
    slope, at_zero = np.polyfit(x[keep], y[keep], 1)
    return float(at_zero), float(slope), int(keep.sum()), float(x[keep].max() - x[keep].min())


def refine(pa: Fingerprint, pb: Fingerprint, guess_s: float) -> tuple[float, float, float, float | None]:
    """(offset_s, confidence, overlap_s, drift_ppm) of a candidate pair.

    Drift: the slope of the matched landmarks' offsets along the overlap (16-ms steps, but
    hundreds of them), where they span ``DRIFT_MIN_S``. Where it is large (``WARP_PPM``: 0.1 %
    moves 30 ms over 30 s), b's envelope is brought onto a's clock by that line before the
    cross-correlation, and kept so where the two then agree better (a clock that drifts);
    otherwise the envelopes are compared as they are, and a line that did not help is two
    devices' noise (drift None). ``offset_s``: where b's 0 s falls on a's clock."""
    ea, eb = pa.envelope.astype(np.float32), pb.envelope.astype(np.float32)
    offset, conf = _refine(ea, eb, guess_s)
    start, end = max(0.0, offset), min(pa.duration_s, pb.duration_s + offset)  # the overlap on a's clock
    line = _landmark_line(pa, pb, guess_s)
    if line is None or line[3] < DRIFT_MIN_S:
        return offset, conf, max(0.0, end - start), None
    at_zero, slope, _, _ = line
    if abs(slope) * 1e6 >= WARP_PPM:
        # b's envelope on a's clock (t_b = t_a - (at_zero + slope * t_a): b's 0 s falls at a's
        # at_zero / (1 - slope)); where that makes the two agree better, the drift is real
        warped = _on_a_clock(eb, ENV_RATE_HZ, ea.size, at_zero / (1 - slope), slope)[0].astype(np.float32)
        delta, agree = _refine(ea, warped, 0.0)
        if agree > conf + 0.05:
            # what the landmarks' 16-ms steps left: the warped envelopes' offsets on the overlap's
            # two halves, a line through them (copies agree there to a fraction of a millisecond)
            lo, hi = int(start * ENV_RATE_HZ), int(end * ENV_RATE_HZ)
            mid = (lo + hi) // 2
            (d1, c1), (d2, c2) = _refine(ea, warped, delta, (lo, mid)), _refine(ea, warped, delta, (mid, hi))
            if min(c1, c2) >= DRIFT_CONFIDENCE:
                rest = (d2 - d1) / ((hi - lo) / 2 / ENV_RATE_HZ)
                delta = d1 - rest * (lo + mid) / 2 / ENV_RATE_HZ
                slope += rest * (1 - slope)
            offset = (at_zero + delta) / (1 - slope)
            end = min(pa.duration_s, offset + pb.duration_s / (1 - slope))
            return offset, agree, max(0.0, end - max(0.0, offset)), slope * 1e6
        return offset, conf, max(0.0, end - start), None  # the line is two devices' noise, not a clock
    return offset, conf, max(0.0, end - start), slope * 1e6 if conf >= DRIFT_CONFIDENCE else None


def level_agreement(pa: Fingerprint, pb: Fingerprint, offset_s: float, drift_ppm: float | None) -> float:
    """How well two tracks' 20-ms level contours agree where they overlap, b brought onto a's
    clock (t_a = offset + t_b / (1 - drift)): near 1 for copies of one recording, whatever their
    codecs, and well under it for two microphones, each nearer its own talker."""
    if pa.level is None or pb.level is None or not pa.level.size or not pb.level.size:
        return 0.0
    rate = ENV_RATE_HZ / LEVEL_STEP
    y, inside = _on_a_clock(pb.level.astype(np.float64), rate, pa.level.size, offset_s, (drift_ppm or 0.0) * 1e-6)
    if inside.sum() < 2 * rate:
        return 0.0
    x, y = pa.level[inside].astype(np.float64), y[inside]
    return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else 0.0


def match(prints: list[Fingerprint], cfg: SyncConfig) -> tuple[list[SyncPair], list[SyncRow]]:
    """The accepted pairs, and a row per grouped track (tracks in no group have none)."""
    pairs = []
    for a, b, frames, votes in candidates(prints, cfg.min_votes):
        offset, conf, overlap, drift = refine(prints[a], prints[b], frames * FRAME_S)
        if conf >= cfg.min_confidence and overlap >= cfg.min_overlap_s:
            pairs.append(SyncPair(a, b, round(offset, 5), round(conf, 4), round(overlap, 3),
                                  None if drift is None else round(drift, 1), votes,
                                  round(level_agreement(prints[a], prints[b], offset, drift), 4)))
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
        # each member's 0 s and clock rate on the first member's clock, through the strongest pairs
        # (a tree): t_a = offset + t_b / (1 - slope) for a pair's two tracks
        clock = {members[0]: (0.0, 1.0, True, None)}
        best_pairs = sorted((p for p in pairs if root(p.a) == r), key=lambda p: -p.confidence)
        while len(clock) < len(members):
            for p in best_pairs:
                if (p.a in clock) == (p.b in clock):
                    continue
                slope = (p.drift_ppm or 0.0) * 1e-6
                if p.a in clock:
                    oa, ra, known, _ = clock[p.a]
                    clock[p.b] = (oa + ra * p.offset_s, ra / (1 - slope), known and p.drift_ppm is not None, p)
                else:
                    ob, rb, known, _ = clock[p.b]
                    clock[p.a] = (ob - rb * (1 - slope) * p.offset_s, rb * (1 - slope), known and p.drift_ppm is not None, p)
                break
            else:
                break
        first = min(v[0] for v in clock.values())
        any_known = any(v[2] and v[3] is not None for v in clock.values())
        for i in members:
            at, rate, known, p = clock[i]
            via = p or max((q for q in best_pairs if i in (q.a, q.b)), key=lambda q: q.confidence)
            other = via.b if via.a == i else via.a
            drift = round((rate - 1) * 1e6, 1) if known and (p is not None or any_known) else None
            rows.append(SyncRow(g, i, round(at - first, 4), drift, via.overlap_s,
                                "same_recording" if via.level_agreement >= cfg.same_recording_level else "same_scene",
                                via.confidence, other, via.votes))
    return pairs, rows
