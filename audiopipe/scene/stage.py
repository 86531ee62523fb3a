"""Sound events of a track: the AudioSet network on a grid of frames, a score curve per label,
hysteresis, a start and an end (``hear``, ``curves``, ``resolve``, ``events_of``, ``detect``).

Per track: 0.975-s frames every ``hop_s`` (the last one ends at the track's end; a track
shorter than a frame is padded with faint quiet), scored ``audioset.BATCH`` at a time, so an
hour's frames are never all held, only the scores of the labels' classes (a few dozen numbers
a frame). A frame whose own samples never reach ``silence_dbfs`` is not run: digital silence
is no sound. Per label, the frame score is the highest of its classes, smoothed by a running
median of the label's ``smooth_frames``. An event begins where the score has stayed at the
label's cut for its ``hold_s`` (both chosen on real clips, ``train/scene.py``) and lasts while
it stays above ``off_ratio`` of the cut; spans closer than ``merge_gap_s`` are one. The rules
between labels: where a more specific label (``over``) is heard, or a rival scores higher
(``rivals``), the loser's frames are lowered below its cut (``resolve``); a span is the more
specific label where that one is heard over it at all (half its cut), and the label it
``yields_to_gunshots`` where it begins at a gunshot of the events stage (``_label_of``);
overlapping events in a rule become one, the loser its runner-up (``settle``). Its start is
where the sound begins inside its first frame (the first 20-ms stretch within 10 dB of that
frame's loudest, taken back while the level stays 10 dB over the quiet before it), its end
where it fades inside its last frame (the last within 20 dB), so that a blast 0.6 s into a
frame is timed at the blast (``edges_s``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import median_filter

from ..config import SceneConfig
from ..models.audioset import BATCH, FRAME, FRAME_S, RATE_HZ, AudioSet, cut
from ..records import SoundEvent, Track
from .labels import Label

STEP = 320  # 20-ms stretches for the start and end inside a frame


def frame_starts_s(duration_s: float, hop_s: float) -> np.ndarray:
    """Where the frames of a track start: every ``hop_s``, the last one ending at the track's end."""
    if duration_s <= FRAME_S:
        return np.zeros(1)
    starts = np.arange(0.0, duration_s - FRAME_S + 1e-9, hop_s)
    if duration_s - (starts[-1] + FRAME_S) > 1e-3:
        starts = np.append(starts, duration_s - FRAME_S)
    return starts


def columns(labels: list[Label], net: AudioSet) -> list[int]:
    """The class-map rows the labels read, each once (in order of first use)."""
    return list(dict.fromkeys(i for lab in labels for i in net.index(list(lab.classes))))


def hear(audio_16k: np.ndarray, net: AudioSet, cols: list[int], hop_s: float, silence_dbfs: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """The frames' start times and the scores of classes ``cols``: shape = (n_frames, len(cols))."""
    starts = frame_starts_s(audio_16k.size / RATE_HZ, hop_s)
    out = np.zeros((starts.size, len(cols)), np.float32)
    floor = 10.0 ** (silence_dbfs / 20.0)
    for a in range(0, starts.size, BATCH):
        chunk = starts[a: a + BATCH]
        loud = [k for k, s in enumerate(chunk)
                if np.abs(audio_16k[int(round(s * RATE_HZ)): int(round(s * RATE_HZ)) + FRAME]).max(initial=0.0) >= floor]
        if loud:
            frames = np.stack([cut(audio_16k, chunk[k]) for k in loud])
            out[a + np.array(loud)] = net.scores(frames)[:, cols]
    return starts, out


def smooth(curve: np.ndarray, frames: int) -> np.ndarray:
    """A label's frame scores under a running median of ``frames`` (1: as they are)."""
    return median_filter(curve, size=frames, mode="nearest") if frames > 1 and curve.size > 1 else curve


def own_columns(lab: Label, cols: list[int], net: AudioSet) -> list[int]:
    """Where a label's classes sit among the scores ``hear`` kept (its columns of ``cols``)."""
    return [cols.index(i) for i in net.index(list(lab.classes))]


def curves(scores: np.ndarray, labels: list[Label], cols: list[int], net: AudioSet, raw: bool = False) -> np.ndarray:
    """Per label, the highest score of its classes per frame, smoothed as the label says (raw:
    not smoothed): shape = (n_frames, n_labels)."""
    return np.stack([smooth(scores[:, own_columns(lab, cols, net)].max(axis=1), 1 if raw else lab.smooth_frames)
                     for lab in labels], axis=1)


def resolve(curve: np.ndarray, labels: list[Label], off_ratio: float) -> np.ndarray:
    """The curves with the frames a label loses lowered below its cut: to a more specific label
    heard there (``over``), or to a rival above its own cut and scored higher there (``rivals``)."""
    cuts = np.array([lab.threshold for lab in labels])
    ratio = curve / cuts
    out = curve.copy()
    index = {lab.name: k for k, lab in enumerate(labels)}
    below = off_ratio * cuts * 0.99
    for k, lab in enumerate(labels):
        for other in lab.over:
            j = index[other]
            lost = ratio[:, k] >= 1.0
            out[lost, j] = np.minimum(out[lost, j], below[j])
        for other in lab.rivals:
            j = index[other]
            both = (ratio[:, k] >= 1.0) & (ratio[:, j] >= 1.0)
            loser = np.where(curve[:, k] >= curve[:, j], j, k)
            for m in (j, k):
                lost = both & (loser == m)
                out[lost, m] = np.minimum(out[lost, m], below[m])
    return out


def held(curve: np.ndarray, hold_s: float, hop_s: float) -> np.ndarray:
    """Per frame, the lowest score over the ``hold_s`` that follow it (itself included; a track
    that ends sooner is taken to go on as it ends): a label begins where this reaches its cut.
    curve: shape = (n_frames,)."""
    n = 1 + int(round(hold_s / hop_s))
    if n <= 1 or curve.size == 0:
        return curve
    padded = np.concatenate([curve, np.full(n - 1, curve[-1])])
    return np.lib.stride_tricks.sliding_window_view(padded, n).min(axis=1)


def runs(on: np.ndarray, stay: np.ndarray) -> list[tuple[int, int]]:
    """Hysteresis: (first, last) frames of each run that reaches ``on`` somewhere and holds
    ``stay`` throughout (reaching back before the first ``on`` frame, never into the run before)."""
    out: list[tuple[int, int]] = []
    k, n = 0, on.size
    while k < n:
        if not on[k]:
            k += 1
            continue
        a, b, floor = k, k, out[-1][1] + 1 if out else 0
        while a > floor and stay[a - 1]:
            a -= 1
        while b + 1 < n and stay[b + 1]:
            b += 1
        out.append((a, b))
        k = b + 1
    return out


def _levels_db(audio_16k: np.ndarray, a_s: float, b_s: float) -> tuple[int, np.ndarray]:
    a, b = max(0, int(round(a_s * RATE_HZ))), min(audio_16k.size, int(round(b_s * RATE_HZ)))
    n = max(0, (b - a) // STEP)
    if n == 0:
        return a, np.zeros(0)
    x = audio_16k[a: a + n * STEP].astype(np.float64).reshape(n, STEP)
    return a, 10 * np.log10((x ** 2).mean(axis=1) + 1e-12)


def edges_s(audio_16k: np.ndarray, first_s: float, last_s: float) -> tuple[float, float]:
    """Where a sound heard from the frame at ``first_s`` to the frame at ``last_s`` begins and
    ends: its onset in the first frame (the first 20 ms within 10 dB of the frame's loudest),
    taken back while the level stays 10 dB over the quiet before it (a jet rising out of
    silence is heard as a jet only once loud); its end, the last 20 ms of the last frame within
    20 dB of that frame's loudest."""
    duration_s = audio_16k.size / RATE_HZ
    a, lev = _levels_db(audio_16k, first_s - FRAME_S, first_s + FRAME_S)
    if lev.size == 0:
        start = first_s
    else:
        own = np.arange(lev.size) * STEP + a >= int(round(first_s * RATE_HZ))
        k = int(np.argmax(own & (lev >= lev[own].max() - 10.0)))
        floor = np.percentile(lev, 10) + 10.0
        while k > 0 and lev[k - 1] >= floor:
            k -= 1
        start = (a + STEP * k) / RATE_HZ
    b, lev = _levels_db(audio_16k, max(start, last_s), last_s + FRAME_S)
    end = min(duration_s, last_s + FRAME_S) if lev.size == 0 else \
        (b + STEP * (int(np.flatnonzero(lev >= lev.max() - 20.0)[-1]) + 1)) / RATE_HZ
    return start, max(end, min(duration_s, start + STEP / RATE_HZ))


def settle(found: list[SoundEvent], labels: list[Label], cuts: np.ndarray, gap_s: float) -> list[SoundEvent]:
    """Overlapping events of labels in a rule: the more specific (``over``), or of two rivals the
    one the network scored higher, takes the other's span too, the other becomes its runner-up;
    two of one label (one relabelled by ``yields_to_gunshots``) are one."""
    index = {lab.name: k for k, lab in enumerate(labels)}

    def beats(x: SoundEvent, y: SoundEvent) -> bool | None:
        if x.label == y.label:
            return x.score >= y.score
        lx, ly = labels[index[x.label]], labels[index[y.label]]
        if y.label in lx.over:
            return True
        if x.label in ly.over:
            return False
        if y.label in lx.rivals or x.label in ly.rivals:
            return x.score >= y.score
        return None

    out = sorted(found, key=lambda e: e.start_s)
    changed = True
    while changed:
        changed = False
        for i, x in enumerate(out):
            for j, y in enumerate(out):
                if i == j or x.start_s > y.end_s + gap_s or y.start_s > x.end_s + gap_s or not beats(x, y):
                    continue
                out[i] = dataclasses.replace(x, start_s=min(x.start_s, y.start_s), end_s=max(x.end_s, y.end_s),
                                             runner_up=x.runner_up if x.label == y.label else f"{y.label} {y.score:.2f}")
                del out[j]
                changed = True
                break
            if changed:
                break
    return out


def _top(scores: np.ndarray, names: list[str]) -> str:
    best = np.argsort(-scores, kind="stable")[:3]
    return "; ".join(f"{names[i]} {scores[i]:.2f}" for i in best if scores[i] >= 0.05)


def events_of(audio_16k: np.ndarray, track_index: int, starts: np.ndarray, scores: np.ndarray, cols: list[int],
              labels: list[Label], net: AudioSet, cfg: SceneConfig, shots_s: list[float] = ()) -> list[SoundEvent]:
    """The sound events of one track from its frames' scores (``hear``). shots_s: the times of the
    events stage's gunshots on the track (an event of a label that ``yields_to_gunshots`` and
    begins at one is that shot: it takes the label named there)."""
    if not labels or not starts.size:
        return []
    curve = curves(scores, labels, cols, net)
    won = resolve(curve, labels, cfg.off_ratio)
    cuts = np.array([lab.threshold for lab in labels])
    ratio = curve / cuts
    out = []
    for k, lab in enumerate(labels):
        spans = []
        for a, b in runs(held(won[:, k], lab.hold_s, cfg.hop_s) >= cuts[k], won[:, k] >= cfg.off_ratio * cuts[k]):
            start, end = edges_s(audio_16k, float(starts[a]), float(starts[b]))
            if spans and start - spans[-1][1] < cfg.merge_gap_s:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]), spans[-1][2], b)
            else:
                spans.append((start, end, a, b))
        for start, end, a, b in spans:
            m = _label_of(k, start, ratio[a: b + 1], labels, shots_s, cfg.off_ratio)
            own = own_columns(labels[m], cols, net)
            others = [(ratio[a: b + 1, i].max(), i) for i in range(len(labels)) if i != m]
            r, j = max(others, default=(0.0, -1))
            out.append(SoundEvent(track_index, round(start, 3), round(end, 3), labels[m].name,
                                  round(float(curve[a: b + 1, m].max()), 4),
                                  _top(scores[a: b + 1, own].max(axis=0), list(labels[m].classes)),
                                  f"{labels[j].name} {curve[a: b + 1, j].max():.2f}" if r >= 0.5 else ""))
    return sorted(settle(out, labels, cuts, cfg.merge_gap_s), key=lambda e: (e.start_s, e.label))


SHOT_AT_START_S = 0.25  # a gunshot of the events stage this close to a sound's start is where it begins


def _label_of(k: int, start_s: float, ratio: np.ndarray, labels: list[Label], shots_s: list[float],
              off_ratio: float) -> int:
    """Which label a span found for label ``k`` is: the label it yields to where it begins at a
    gunshot of the events stage (``yields_to_gunshots``); else a label more specific than ``k``
    heard over it at all (half its cut: it explains these frames); else ``k``.
    ratio: the span's frames, each label's score over its cut."""
    index = {lab.name: i for i, lab in enumerate(labels)}
    if labels[k].yields_to_gunshots and any(abs(t - start_s) <= SHOT_AT_START_S for t in shots_s):
        return index[labels[k].yields_to_gunshots]
    r, j = max(((ratio[:, i].max(), i) for i, x in enumerate(labels) if labels[k].name in x.over), default=(0.0, k))
    return j if r >= off_ratio else k


def detect(track: Track, cfg: SceneConfig, net: AudioSet, labels: list[Label], shots_s: list[float] = ()
           ) -> list[SoundEvent]:
    """The sound events of one track (its 16-kHz samples), in the track's own time; shots_s:
    the events stage's gunshots on it (``events_of``)."""
    if track.audio_16k.size == 0 or not labels:
        return []
    cols = columns(labels, net)
    starts, scores = hear(track.audio_16k, net, cols, cfg.hop_s, cfg.silence_dbfs)
    return events_of(track.audio_16k, track.index, starts, scores, cols, labels, net, cfg, shots_s)
