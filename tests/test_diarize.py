"""Diarization with pyannote.audio and the offline weights, on real recordings."""

from __future__ import annotations

import dataclasses
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


def test_overlapping_speech_gives_overlapping_turns_and_progress_is_reported(diarizer):
    seen: dict[str, list[float]] = {}
    turns = diarizer(_track("sample.wav"), progress=lambda step, frac: seen.setdefault(step, []).append(frac))
    assert {"segmentation", "embeddings"} <= set(seen), seen
    assert all(v == sorted(v) and v[-1] == 1.0 for v in seen.values()), seen
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


def test_two_voices_given_one_label_by_segmentation_are_split():
    """AMI dev01: segmentation-3.0 gives MEE012 (4.3-6.75 s) and MEE009 (7.0-11.8 s) one
    local label, so pyannote returns one turn 4.4-11.5 s. Re-segmentation cuts it where the
    voice changes and the file keeps its two speakers; with the cut switched off, it does not."""
    cfg = config.load("default").diarization
    track = _track("dev01.wav")

    def speaker_at(turns, t_s):
        return {t.speaker for t in turns if t.start_s <= t_s < t.end_s}

    for split, expect_split in ((cfg.resegment_split_similarity, True), (0.0, False)):
        d = diarize.load(dataclasses.replace(cfg, resegment_split_similarity=split),
                         models.resolve(cfg.segmentation_model), models.resolve(cfg.embedding_model))
        turns = d(track)
        first, second = speaker_at(turns, 5.5), speaker_at(turns, 9.5)
        assert len(first) == 1 and len(second) == 1, turns
        assert (first != second) is expect_split, turns
        assert len({t.speaker for t in turns}) == 2, turns


def _pipeline_folder(folder, pipeline_name: str, params: dict) -> str:
    import yaml

    seg = models.resolve("pyannote-segmentation-3.0")
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "pipeline": {"name": pipeline_name, "params": {"segmentation": f"{seg.path}/pytorch_model.bin"}},
        "params": params}))
    return str(folder)


def test_a_pyannote_pipeline_the_user_names_is_loaded_the_pyannote_way(tmp_path):
    """``--diarization-pipeline``: a pipeline folder (here pyannote's own voice activity
    pipeline over the local segmentation-3.0, so that it runs offline; a hub name takes the
    same path through ``Pipeline.from_pretrained``) replaces the offline pipeline."""
    from pyannote.database.util import load_rttm

    folder = _pipeline_folder(tmp_path, "pyannote.audio.pipelines.VoiceActivityDetection",
                              {"min_duration_on": 0.0, "min_duration_off": 0.0})
    cfg = config.load("default").replace("diarization", pipeline=folder).diarization
    d = diarize.load_named(cfg, models.resolve(cfg.pipeline))
    assert d.embedding is None
    turns = d(_track("sample.wav"))
    assert {t.speaker for t in turns} == {"SPEAKER_00"}  # a voice activity pipeline has one label
    ref = load_rttm(MEDIA / "diarization" / "sample.rttm")["sample"]
    speech_s = ref.get_timeline().support().duration()
    assert abs(sum(t.duration_s for t in turns) - speech_s) < 0.15 * speech_s


def test_a_named_pipeline_that_does_not_load_is_a_clear_model_error(tmp_path):
    from audiopipe.errors import ModelError

    folder = _pipeline_folder(tmp_path, "pyannote.audio.pipelines.NoSuchPipeline", {})
    with pytest.raises(ModelError, match="cannot load the pyannote pipeline"):
        diarize.load_named(config.DiarizationConfig(pipeline=folder), models.resolve(folder))
