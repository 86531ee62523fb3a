"""Clustering, offline: pyannote's agglomerative clustering made to keep speakers who talk
briefly (``BriefSpeakerClustering``), its settings from the config (``configure``), and
``NoPLDA``: pyannote's VBx needs a PLDA trained for its own embedding, so ``NoPLDA`` stands in
for the PLDA that the pipeline's constructor would otherwise fetch from the hub, and fails
loudly if used.
"""

from __future__ import annotations

import numpy as np
from pyannote.audio.core.plda import PLDA
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.clustering import AgglomerativeClustering

from ..config import DiarizationConfig
from ..errors import ModelError


class NoPLDA(PLDA):
    """Stands in for the hub PLDA: agglomerative clustering does not use one."""

    def __init__(self):  # noqa: D107 - deliberately loads nothing
        self.lda_dimension = 0

    def __call__(self, embeddings: np.ndarray):
        raise ModelError("VBx clustering needs a PLDA for its embedding; use AgglomerativeClustering offline")


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
