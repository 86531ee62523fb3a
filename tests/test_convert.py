"""models/ct2_whisper.py: the CTranslate2 Whisper base converted for openai-whisper gives the
same numbers and the same words as faster-whisper on the same weights (float32 compute)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiopipe import config, ingest, models, speech
from audiopipe.records import MediaFile
from conftest import SPEECH

ENCODER_TOL = 5e-3  # max abs difference of encoder outputs (values of order 10-30)
LANG_PROB_TOL = 1e-4  # max abs difference of the first-token (language) probabilities


def _audio(name: str) -> np.ndarray:
    p = SPEECH / name
    _, tracks, _ = ingest.load(MediaFile(name, str(p), p.stat().st_size), config.IngestConfig())
    return tracks[0].audio_16k


def _models(state_dict=None):
    import whisper
    from faster_whisper import WhisperModel
    from whisper.model import ModelDimensions, Whisper

    ck = models.converter("ct2_whisper").convert(models.default_models_dir() / "whisper-base-ct2")
    ow = Whisper(ModelDimensions(**ck["dims"]))
    sd = state_dict(ck["model_state_dict"]) if state_dict else ck["model_state_dict"]
    ow.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=True)
    fw = WhisperModel(models.resolve("whisper-base-ct2").path, device="cpu", compute_type="float32")
    return ow.eval(), fw, whisper


def _differences(ow, fw, whisper, audio: np.ndarray) -> tuple[float, float]:
    fe = fw.feature_extractor
    feats = fe(audio, padding=fe.n_samples)[:, : fe.nb_max_frames]
    mel = whisper.log_mel_spectrogram(torch.from_numpy(audio), 80, padding=whisper.audio.N_SAMPLES)[:, :3000]
    with torch.no_grad():
        enc_ow = ow.encoder(mel[None]).numpy()
        _, probs_ow = ow.detect_language(mel[None])
    enc_fw = np.array(fw.encode(feats))
    probs_fw = dict(fw.detect_language(features=feats)[2])
    return float(np.abs(enc_fw - enc_ow).max()), max(abs(probs_fw[k] - probs_ow[0][k]) for k in probs_fw)


def test_encoder_output_and_first_token_probabilities_agree():
    ow, fw, whisper = _models()
    enc, lang = _differences(ow, fw, whisper, _audio("jfk_en.flac"))
    assert enc < ENCODER_TOL and lang < LANG_PROB_TOL, (enc, lang)


def test_a_mis_mapped_tensor_is_caught():
    """Swapping query and key of one encoder layer still loads, but the outputs disagree."""
    def swap(sd):
        sd = dict(sd)
        q, k = "encoder.blocks.3.attn.query.weight", "encoder.blocks.3.attn.key.weight"
        sd[q], sd[k] = sd[k], sd[q]
        return sd
    ow, fw, whisper = _models(swap)
    enc, _ = _differences(ow, fw, whisper, _audio("jfk_en.flac"))
    assert enc > 100 * ENCODER_TOL


def test_installed_checkpoint_matches_the_registry_and_loads():
    ref = models.resolve(models.for_engine("whisper-base-ct2", "openai-whisper"))
    assert ref.name == "whisper-base-openai" and ref.sha256["base.pt"].startswith("23b06bda")


@pytest.mark.parametrize("name", ["jfk_en.flac", "de_01.wav", "es_01.wav"])
def test_languages_and_greedy_transcripts_are_identical_between_engines(name):
    texts, words = {}, {}
    for engine in ("faster-whisper", "openai-whisper"):
        cfg = config.load("default").replace("speech", engine=engine, beam_size=1, compute_type="float32",
                                              translate=False)
        stage = speech.load_engine(cfg.speech, models.resolve(models.for_engine(cfg.speech.model, engine)), None)
        p = SPEECH / name
        _, tracks, _ = ingest.load(MediaFile(name, str(p), p.stat().st_size), cfg.ingest)
        result = stage.process(tracks[0], [])
        langs, segs = result.languages, result.segments
        texts[engine] = ([(g.language, g.decided_by) for g in langs], " ".join(s.text for s in segs).split())
        words[engine] = [w.start_s for s in segs for w in s.words]
    assert texts["faster-whisper"] == texts["openai-whisper"]
    # word times come from the same alignment heads: within one 20-ms token step
    assert len(words["faster-whisper"]) == len(words["openai-whisper"])
    assert max(abs(a - b) for a, b in zip(words["faster-whisper"], words["openai-whisper"])) <= 0.1
