"""Diarization with pyannote.audio and the offline weights, on real recordings."""

from __future__ import annotations

import os
import warnings

import pytest

from audiopipe import config, diarize, ingest, models
from audiopipe.records import MediaFile
from conftest import MEDIA



@pytest.fixture(scope="module")
def diarizer():
    cfg = config.load("default").diarization
    return diarize.load(cfg, models.resolve(cfg.segmentation_model), models.resolve(cfg.embedding_model))


def _track(name: str):
    p = MEDIA / "diarization" / name
    _, tracks, _ = ingest.load(MediaFile(name, str(p), p.stat().st_size), config.IngestConfig())
    return tracks[0]


def test_pyannote_imports_with_the_pinned_torch():
    import pyannote.audio  # noqa: F401
    import torch
    import torchaudio.compliance.kaldi  # noqa: F401

    assert torch.__version__.startswith("2.13")


def test_pyannote_telemetry_is_off():
    from pyannote.audio.telemetry.metrics import is_metrics_enabled

    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "0"
    assert is_metrics_enabled() is False


def test_two_speakers_found_on_sample_with_low_der(diarizer):
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    turns = diarizer(_track("sample.wav"))
    assert {t.speaker for t in turns} == {"SPEAKER_00", "SPEAKER_01"}
    ref = load_rttm(MEDIA / "diarization" / "sample.rttm")["sample"]
    hyp = Annotation(uri="sample")
    for i, t in enumerate(turns):
        hyp[Segment(t.start_s, t.end_s), i] = t.speaker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp)
    assert der <= 0.10
    starts = [t.start_s for t in turns]
    assert starts == sorted(starts) and all(t.end_s > t.start_s for t in turns)


def test_overlapping_speech_gives_overlapping_turns(diarizer):
    turns = diarizer(_track("sample.wav"))
    overlaps = [(a, b) for a, b in zip(turns, turns[1:]) if b.start_s < a.end_s and a.speaker != b.speaker]
    assert overlaps, "sample.wav has short overlaps between its two speakers"


def test_stereo_call_diarized_by_channel():
    cfg = config.load("default").replace("diarization", by_channel=True).diarization
    d = diarize.load(cfg, models.resolve(cfg.segmentation_model), models.resolve(cfg.embedding_model))
    turns = d(_track("stereo_diarization.wav"))
    assert {t.speaker for t in turns} == {"CHANNEL_00", "CHANNEL_01"}


def test_vbx_without_plda_fails_loudly_not_over_the_network():
    with pytest.raises(Exception, match="PLDA"):
        diarize.NoPLDA()(None)
