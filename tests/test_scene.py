"""The sound-scene stage on real recordings with the real AudioSet network (YAMNet): a real
explosion and a real helicopter mixed into real speech found at their times with their labels,
speech left alone, reviewers' labels imported, bad input without events or errors, memory
bounded, and the labels file checked at start."""

from __future__ import annotations

import csv
import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import soundfile as sf
from conftest import MEDIA, SPEECH, mixed_over, read_mono16

from audiopipe import batch, cli, config, models, review, scene
from audiopipe.config import SceneConfig
from audiopipe.errors import ConfigError
from audiopipe.models import audioset
from audiopipe.records import Track
from audiopipe.scene import stage

SCENE = MEDIA / "scene"
CFG = SceneConfig()
EXPLOSION_AT_S, AIRCRAFT_AT_S = 4.0, 11.0


@pytest.fixture(scope="module")
def net() -> audioset.AudioSet:
    return audioset.network(models.resolve("yamnet"))


@pytest.fixture(scope="module")
def labels(net):
    labs = scene.load()
    scene.check(labs, net)
    return labs


def _track(audio: np.ndarray, index: int = 0) -> Track:
    audio = np.asarray(audio, np.float32)
    return Track(index, index, "pcm", 16000, 1, audio.size / 16000, audio, audio[None, :])


@pytest.fixture(scope="module")
def mixed_case(tmp_path_factory) -> tuple[Path, dict]:
    """Real speech (JFK, then Spanish) with a real distant explosion 14 dB over it at 4 s (a
    blast near a phone is far louder than talk) and a real helicopter 10 dB over it from 11 s,
    through ``audiopipe run``'s default config; a reviewer then relabels the helicopter."""
    bed = np.concatenate([read_mono16(SPEECH / "jfk_en.flac"), read_mono16(SPEECH / "es_01.wav")])
    for name, at_s, snr_db, times in (("explosion__antum_explosion_distant_03.wav", EXPLOSION_AT_S, 14, 1),
                                      ("aircraft__antum_helicopter.wav", AIRCRAFT_AT_S, 10, 6)):
        bed = mixed_over(bed, np.tile(read_mono16(SCENE / name), times), at_s, snr_db)
    ev = tmp_path_factory.mktemp("scene-evidence")
    sf.write(ev / "blast_and_helicopter.wav", (bed / np.abs(bed).max() * 0.95).astype(np.float32), 16000)
    case = tmp_path_factory.mktemp("scene-case") / "case"
    # diarized as a user's run is: the blast and the helicopter are turned down in what pyannote
    # hears (diarization.turn_down_sounds), else the blast 14 dB over the talk hides all of JFK
    cfg = config.load("default").replace("speech", translate=False)
    assert batch.run(ev, case, cfg, quiet=True).errors == 0
    (result_path,) = case.glob("files/*/result.json")
    return case, json.loads(result_path.read_text())


def test_an_explosion_and_a_helicopter_in_speech_are_found_at_their_times(mixed_case):
    case, result = mixed_case
    sounds = result["sounds"]
    blast = [n for n in sounds if n["label"] == "explosion"]
    heli = [n for n in sounds if n["label"] == "aircraft"]
    assert len(blast) == 1 and abs(blast[0]["start_s"] - EXPLOSION_AT_S) <= 0.5, sounds
    assert len(heli) == 1 and abs(heli[0]["start_s"] - AIRCRAFT_AT_S) <= 0.5, sounds
    assert heli[0]["end_s"] > AIRCRAFT_AT_S + 4.0
    assert "Helicopter" in heli[0]["top_classes"] and "Explosion" in blast[0]["top_classes"]
    # the speech is still transcribed, and the words said over the blast are flagged
    text = " ".join(s["text"] for s in result["segments"]).lower()
    assert "country" in text and len(result["segments"]) >= 3
    assert "americans" in text  # the talk before the blast too (the window pyannote read held the blast)
    over = [s for s in result["segments"] if s["start_s"] < blast[0]["end_s"] and s["end_s"] > blast[0]["start_s"]]
    assert over and all("during_explosion" in s["flags"] for s in over)
    assert all("during_explosion" not in s["flags"] for s in result["segments"] if s not in over)
    # the Sounds sheet and CSV, and the Timeline's sound rows
    wb = openpyxl.load_workbook(case / "case.xlsx")
    rows = list(wb["Sounds"].iter_rows(values_only=True))
    head = rows[0]
    assert {"label", "start_hms", "top_classes", "runner_up", "nearest_segment", "speech_offset_s",
            "reviewed_label", "reviewer_note", "reviewed_by"} <= set(head)
    assert sorted(r[head.index("label")] for r in rows[1:]) == sorted(n["label"] for n in sounds)
    with open(case / "sounds.csv", encoding="utf-8-sig") as f:
        assert len(list(csv.DictReader(f))) == len(sounds)
    timeline = list(wb["Timeline"].iter_rows(values_only=True))
    kinds = [r[timeline[0].index("kind")] for r in timeline[1:]]
    assert kinds.count("sound") == len(sounds)
    assert result["stages"]["scene"] == "done" and result["timings_s"]["scene"] > 0


def test_a_reviewed_label_comes_back_through_review_import_and_is_logged(mixed_case, tmp_path, capsys):
    case, result = mixed_case
    wb = openpyxl.load_workbook(case / "case.xlsx")
    ws = wb["Sounds"]
    cols = {c.value: c.column for c in ws[1]}
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, cols["label"]).value == "aircraft")
    ws.cell(row, cols["reviewed_label"], "Vehicle")
    ws.cell(row, cols["reviewer_note"], "a truck, not a helicopter: heard at 0:13")
    bad = next(r for r in range(2, ws.max_row + 1) if r != row)
    ws.cell(bad, cols["reviewed_label"], "spaceship")
    wb.save(tmp_path / "edited.xlsx")
    rc = cli.main(["review", "import", str(case), str(tmp_path / "edited.xlsx"), "--by", "R. Viewer"])
    said = capsys.readouterr().out
    assert rc == 4 and "'spaceship' is not a sound label" in said  # that row refused whole, the rest recorded
    log = review.read_log(case)
    mine = [e for e in log if e["sheet"] == "Sounds"]
    assert {(e["field"], e["new"], e["by"]) for e in mine} == {
        ("reviewed_label", "vehicle", "R. Viewer"), ("reviewer_note", "a truck, not a helicopter: heard at 0:13", "R. Viewer")}
    assert next(e for e in mine if e["field"] == "reviewed_label")["machine"] == "aircraft"
    with open(case / "sounds.csv", encoding="utf-8-sig") as f:
        reviewed = [r for r in csv.DictReader(f) if r["reviewed_label"]]
    assert [(r["label"], r["reviewed_label"], r["reviewed_by"]) for r in reviewed] == [("aircraft", "vehicle", "R. Viewer")]
    with open(case / "timeline.csv", encoding="utf-8-sig") as f:
        said = [r["reviewed"] for r in csv.DictReader(f) if r["kind"] == "sound" and r["reviewed"]]
    assert said and "sound: vehicle" in said[0]


@pytest.mark.parametrize("name", ["jfk_en.flac", "es_01.wav", "de_01.wav", "ru_lecture.wav", "multilingual_en_de.mp3"])
def test_speech_only_recordings_give_no_sound_events_but_shouting(name, net, labels):
    audio = read_mono16(SPEECH / name)
    found = stage.detect(_track(audio), CFG, net, labels)
    assert [n for n in found if n.label != "shouting"] == []


def test_silence_a_fifth_of_a_second_and_pure_noise_give_no_events_and_no_error(net, labels):
    rng = np.random.default_rng(0)
    for audio in (np.zeros(16000 * 5), np.zeros(3200), 0.3 * rng.standard_normal(16000 * 5),
                  0.3 * rng.standard_normal(3200), np.zeros(0)):
        assert stage.detect(_track(audio), CFG, net, labels) == []


def test_a_short_real_sound_is_heard_on_a_padded_frame(net, labels):
    """A 0.6-s real dog bark, the whole track: one frame, padded with quiet, finds the dog."""
    bark = read_mono16(SCENE / "dog__antum_dog_bark.wav")
    found = stage.detect(_track(bark[: int(0.6 * 16000)]), CFG, net, labels)
    assert [n.label for n in found] == ["dog"] and found[0].start_s < 0.3


def test_frames_are_streamed_so_an_hour_holds_only_its_scores(net, labels, monkeypatch):
    """Twenty minutes of faint noise: the frames are cut a batch at a time (never 300 MB of them)."""
    monkeypatch.setattr(stage, "BATCH", 64)
    audio = (1e-2 * np.random.default_rng(1).standard_normal(16000 * 60 * 20)).astype(np.float32)
    cols = stage.columns(labels, net)
    tracemalloc.start()
    starts, scores = stage.hear(audio, net, cols, CFG.hop_s, CFG.silence_dbfs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert starts.size == scores.shape[0] > 4900 and scores.shape[1] == len(cols)
    assert peak < 30e6, peak  # 64 frames of 15600 samples, the scores; all frames would be 313 MB


def test_the_frames_cover_the_track_to_its_last_sample():
    starts = stage.frame_starts_s(10.0, 0.24)
    assert starts[0] == 0 and starts[-1] + audioset.FRAME_S == pytest.approx(10.0)
    assert np.all(np.diff(starts) <= 0.24 + 1e-9)
    assert stage.frame_starts_s(0.2, 0.24).tolist() == [0.0]


def test_hysteresis_and_holding():
    on = np.array([0, 1, 1, 0, 0, 0, 1, 0], bool)
    stay = np.array([1, 1, 1, 1, 0, 1, 1, 1], bool)
    assert stage.runs(on, stay) == [(0, 3), (5, 7)]
    curve = np.array([0.1, 0.6, 0.7, 0.2, 0.8, 0.9, 0.9])
    assert stage.held(curve, 0.48, 0.24).tolist() == [0.1, 0.2, 0.2, 0.2, 0.8, 0.9, 0.9]


def test_the_more_specific_label_takes_the_others_frames():
    """An aircraft heard over a vehicle's frames is the aircraft, with the vehicle its runner-up;
    fireworks over an explosion are fireworks."""
    labs = scene.load()
    index = {lab.name: k for k, lab in enumerate(labs)}
    cut = {lab.name: lab.threshold for lab in labs}
    curve = np.zeros((4, len(labs)))
    curve[:, index["vehicle"]] = 0.9
    curve[1:3, index["aircraft"]] = 0.6
    won = stage.resolve(curve, labs, CFG.off_ratio)
    assert (won[1:3, index["vehicle"]] < cut["vehicle"]).all() and (won[[0, 3], index["vehicle"]] == 0.9).all()
    assert (won[:, index["aircraft"]] == curve[:, index["aircraft"]]).all()
    curve = np.zeros((4, len(labs)))
    curve[:, index["explosion"]] = 0.95
    curve[:, index["fireworks"]] = 0.95
    won = stage.resolve(curve, labs, CFG.off_ratio)
    assert (won[:, index["explosion"]] < cut["explosion"]).all() and (won[:, index["fireworks"]] == 0.95).all()


def test_a_labels_file_with_an_unknown_class_or_label_is_refused_at_start(tmp_path, net):
    bad = tmp_path / "labels.yaml"
    bad.write_text("labels:\n  drone: {classes: [Dronee]}\n")
    with pytest.raises(ConfigError, match="Dronee"):
        scene.check(scene.load(str(bad), thresholds=None), net)
    bad.write_text("labels:\n  drone: {classes: [Whir], over: [aircraft]}\n")
    with pytest.raises(ConfigError, match="aircraft"):
        scene.load(str(bad), thresholds=None)
    with pytest.raises(ConfigError, match="diarization.turn_down_sounds names explosions"):
        scene.check(scene.load(), net, {"diarization.turn_down_sounds": ("explosions", "dog")})
    own = tmp_path / "mine.yaml"
    own.write_text("labels:\n  drone: {classes: [Whir, Buzz], threshold: 0.2, about: a user's own label}\n")
    (lab,) = scene.load(str(own))
    assert (lab.name, lab.threshold, lab.calibrated) == ("drone", 0.2, False)


def test_the_shipped_cuts_are_the_calibration_s(tmp_path):
    """``make train-scene`` rebuilds the shipped cuts file byte for byte (deterministic)."""
    pytest.importorskip("sklearn")
    import subprocess
    import sys

    out = tmp_path / "cuts.yaml"
    subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "train" / "scene.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == config.config_file("scene_thresholds").read_bytes()
    shutil.rmtree(tmp_path, ignore_errors=True)
