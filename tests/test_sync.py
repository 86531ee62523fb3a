"""Files that hear the same moments (``audiopipe.sync``), on real recordings: cuts of the scenario
re-encoded as a user receives them, two headset microphones of one meeting, a rerun with a new
cut; unrelated and silent files in no group."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest
from conftest import MEDIA, SCENARIO, SPEECH, encode, read_audio, read_mono16

from audiopipe import batch, config, sync
from audiopipe.config import SyncConfig

CFG = config.load("default").replace("speech", enabled=False).replace("diarization", enabled=False)
#: where each cut of the scenario starts in it (s): its 0 s on the group's clock
CUTS_S = {"cut_a.wav": 0.0, "cut_b.ogg": 8.3, "cut_c_phone.wav": 12.77}


def _sync_rows(case: Path) -> list[dict]:
    with open(case / "sync.csv", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def scenario_cuts(tmp_path_factory) -> Path:
    """Three cuts of the scenario's audio: as PCM, as Opus (a messaging app), as 8-kHz mu-law
    (a phone call); an unrelated real recording; a file of silence."""
    audio, rate = read_audio(SCENARIO / "scenario_reference.wav")
    ev = tmp_path_factory.mktemp("sync-evidence")

    def cut(a_s: float, b_s: float) -> np.ndarray:
        return audio[:, int(a_s * rate): int(b_s * rate)]

    encode(ev / "cut_a.wav", [(cut(0.0, 30.0), rate)], "pcm_s16le")
    encode(ev / "cut_b.ogg", [(librosa.resample(cut(8.3, 40.0), orig_sr=rate, target_sr=48000), 48000)], "libopus")
    encode(ev / "cut_c_phone.wav", [(librosa.resample(cut(12.77, 35.0), orig_sr=rate, target_sr=8000), 8000)],
           "pcm_mulaw")
    shutil.copy(SPEECH / "es_01.wav", ev / "unrelated.wav")
    encode(ev / "silence.wav", [(np.zeros((1, 16000 * 5), np.float32), 16000)], "pcm_s16le")
    return ev


@pytest.fixture(scope="module")
def scenario_case(scenario_cuts, tmp_path_factory) -> Path:
    case = tmp_path_factory.mktemp("sync-case") / "case"
    assert batch.run(scenario_cuts, case, CFG, quiet=True).errors == 0
    return case


def test_three_cuts_of_one_video_are_one_group_on_one_clock(scenario_case):
    rows = _sync_rows(scenario_case)
    assert sorted(r["file"] for r in rows) == sorted(CUTS_S)  # the unrelated file and the silence in none
    assert len({r["group"] for r in rows}) == 1
    for r in rows:
        assert float(r["offset_s"]) == pytest.approx(CUTS_S[r["file"]], abs=0.002), r
        assert r["relation"] == "same_recording" and float(r["confidence"]) > 0.9
        assert float(r["overlap_s"]) >= 17.0


def test_the_case_review_page_lists_the_group_with_each_file_s_place(scenario_case):
    doc = (scenario_case / "review.html").read_text(encoding="utf-8")
    group = doc.split("Group 0</a>:")[1]
    for name, start_s in CUTS_S.items():
        assert f">{name}</a>" in group and f"{start_s:.3f}" in group
    assert "unrelated.wav" not in group and "same_recording" in group


def test_the_timeline_interleaves_the_files_on_the_group_clock(scenario_case):
    """The first automatic burst (20.0 s into the scenario) as each cut hears it: at 20.0 s on
    the group's clock in all three."""
    with open(scenario_case / "timeline.csv", encoding="utf-8-sig") as f:
        timeline = list(csv.DictReader(f))
    for name, start_s in CUTS_S.items():
        bursts = [r for r in timeline if r["file"] == name and r["kind"] == "burst" and ", automatic" in r["what"]]
        first = min(bursts, key=lambda r: float(r["time_s"]))
        assert float(first["time_s"]) == pytest.approx(20.0 - start_s, abs=0.05)
        assert float(first["group_time_s"]) == pytest.approx(20.0, abs=0.05) and first["group"] == "0"
    assert all(r["group"] == "" for r in timeline if r["file"] == "unrelated.wav")


def test_a_rerun_with_a_new_cut_analyses_only_it_and_it_joins_the_group(scenario_cuts, tmp_path):
    ev, case = tmp_path / "evidence", tmp_path / "case"
    shutil.copytree(scenario_cuts, ev)
    assert batch.run(ev, case, CFG, quiet=True).analysed == 5
    audio, rate = read_audio(SCENARIO / "scenario_reference.wav")
    encode(ev / "cut_d.wav", [(audio[:, int(21.5 * rate): int(39.0 * rate)], rate)], "pcm_s16le")
    summary = batch.run(ev, case, CFG, quiet=True)
    assert (summary.analysed, summary.reused) == (1, 5)
    rows = {r["file"]: r for r in _sync_rows(case)}
    assert set(rows) == set(CUTS_S) | {"cut_d.wav"} and len({r["group"] for r in rows.values()}) == 1
    assert float(rows["cut_d.wav"]["offset_s"]) == pytest.approx(21.5, abs=0.002)


def test_two_headset_microphones_of_one_meeting_are_one_scene(tmp_path):
    """Two ES2004 headsets (each hears its own speaker close, the others from across the
    table), cut 3.05 s apart: one group, the offset within 20 ms."""
    headsets = MEDIA / "diarization" / "ami_es2004_sources"
    a = sync.compute(read_mono16(headsets / "FEE016.wav")[int(5.25 * 16000): 60 * 16000])
    b = sync.compute(read_mono16(headsets / "FEE013.wav")[int(2.2 * 16000): 45 * 16000])
    pairs, rows = sync.match([a, b], SyncConfig())
    assert len(pairs) == 1 and {r.relation for r in rows} == {"same_scene"}
    by = {r.node: r for r in rows}
    assert by[0].offset_s - by[1].offset_s == pytest.approx(5.25 - 2.2, abs=0.02)


@pytest.mark.parametrize("ppm", [500, 1000])
def test_a_copy_whose_clock_drifts_is_lined_up_at_both_ends(ppm):
    """The 60-s ES2004 room mix, and a copy of it played 0.05 % / 0.1 % slow and cut 3.3 s in
    (a phone's clock): the drift found within 50 ppm, the copy's 0 s within 2 ms."""
    x = read_mono16(MEDIA / "diarization" / "ami_es2004_4spk.wav")
    slow = librosa.resample(x, orig_sr=16000, target_sr=16000 * (1 + ppm * 1e-6), res_type="soxr_hq")
    cut = int(3.3 * 16000)
    pairs, _ = sync.match([sync.compute(x), sync.compute(slow[cut:])], SyncConfig())
    (pair,) = pairs
    assert pair.drift_ppm == pytest.approx(-ppm, abs=50)
    assert pair.offset_s == pytest.approx(cut / (16000 * (1 + ppm * 1e-6)), abs=0.002)


def test_unrelated_recordings_are_never_paired():
    """Every shared speech recording but the scenario's own sources: no pair at all."""
    sources = {"jfk_en.flac", "it_01.wav", "ru_lecture.wav", "de_01.wav"}  # the scenario is made of these
    paths = [p for p in sorted(SPEECH.glob("*.*")) if p.suffix in (".wav", ".flac", ".mp3") and p.name not in sources]
    paths += sorted((SPEECH / "trust").glob("*.wav"))[:12]
    prints = [sync.compute(read_mono16(p)) for p in paths]
    pairs, rows = sync.match(prints, SyncConfig())
    assert pairs == [] and rows == []


def test_short_silent_and_empty_tracks_are_fingerprinted_without_error():
    for audio in (np.zeros(0, np.float32), np.zeros(16000, np.float32), np.zeros(16000 * 3, np.float32)):
        p = sync.compute(audio)
        assert p.hashes.size == 0 and p.duration_s == audio.size / 16000
    assert sync.match([sync.compute(np.zeros(16000, np.float32))] * 2, SyncConfig()) == ([], [])
    # shorter than one 64-ms frame, or a minute's block and a few samples past it (the hour-long
    # bench file once failed on its last 100 samples), with sound in them
    noise = np.random.default_rng(0).standard_normal(60 * 16000 + 100).astype(np.float32) * 0.1
    for audio in (noise[:500], noise):
        p = sync.compute(audio)
        assert p.duration_s == audio.size / 16000 and (p.hashes.size > 0) == (audio.size > 16000)


def test_the_group_page_plays_each_file_from_the_moment_clicked(scenario_case, browser):
    """The group page in headless Chromium: a lane per file; a line of the Opus cut at group time
    ~20 s plays that cut's listening copy from ~11.7 s (its own clock)."""
    page_path = scenario_case / "groups" / "group0.html"
    seen = []
    pg = browser.new_page(viewport={"width": 1200, "height": 800})
    pg.on("pageerror", lambda e: seen.append(str(e)))
    pg.on("request", lambda r: seen.append(r.url) if not r.url.startswith("file://") else None)
    pg.goto(page_path.as_uri())
    assert pg.inner_text("#title").startswith("Group 0: 3 recordings")
    rows = pg.eval_on_selector_all("#lines tr", "rs => rs.map(r => [Number(r.dataset.file), Number(r.dataset.group)])")
    files = pg.evaluate("JSON.parse(document.getElementById('data').textContent).files.map(f => f.file)")
    assert sorted(files) == sorted(CUTS_S)
    assert [g for _, g in rows] == sorted(g for _, g in rows)  # in the order things happened
    b = files.index("cut_b.ogg")
    target = min((r for r in rows if r[0] == b), key=lambda r: abs(r[1] - 20.0))
    pg.locator(f'#lines tr[data-file="{b}"][data-group="{target[1]}"]').first.click()
    pg.wait_for_function("() => document.getElementById('audio').currentTime > 0", timeout=10000)
    assert pg.evaluate("document.getElementById('audio').src").endswith(".webm")
    assert pg.evaluate("document.getElementById('audio').currentTime") == pytest.approx(
        target[1] - CUTS_S["cut_b.ogg"], abs=0.6)
    pg.close()
    assert seen == []
