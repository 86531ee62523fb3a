"""Review outputs read back as a reviewer's tools would read them."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import srt
import webvtt

from audiopipe import batch, config, outputs, pipeline
from audiopipe.outputs import sheets, tables
from conftest import SCENARIO, SPEECH

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """A real case: the scenario video and a German voice note, every stage on."""
    ev = tmp_path_factory.mktemp("evidence")
    shutil.copy(SCENARIO / "scenario.mp4", ev / "scenario.mp4")
    shutil.copy(SPEECH / "de_01.wav", ev / "voice note ✓.wav")
    out = tmp_path_factory.mktemp("case")
    batch.run(ev, out, config.load("default"), quiet=True)
    return out


def test_workbook_has_every_sheet_frozen_filtered_and_no_index(case):
    wb = openpyxl.load_workbook(case / "case.xlsx")
    assert wb.sheetnames == ["Files", "Timeline", "Segments", "Words", "Events", "Bursts", "Sounds", "Sync", "Speakers"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        headers = [c.value for c in ws[1]]
        assert headers[0] in ("path", "file") and None not in headers  # no pandas index column
    seg = wb["Segments"]
    headers = [c.value for c in seg[1]]
    assert headers == tables.SEGMENT_COLUMNS
    rows = list(seg.iter_rows(min_row=2, values_only=True))
    langs = {r[headers.index("language")] for r in rows}
    assert {"en", "it", "ru", "de"} <= langs
    assert any(r[headers.index("text_en")] for r in rows if r[headers.index("language")] == "de")
    assert seg.conditional_formatting, "flagged rows must be marked"


def test_timeline_sheet_reads_top_to_bottom_with_shots_and_speech(case):
    ws = openpyxl.load_workbook(case / "case.xlsx")["Timeline"]
    headers = [c.value for c in ws[1]]
    rows = [dict(zip(headers, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    scen = [r for r in rows if r["file"] == "scenario.mp4"]
    times = [r["time_s"] for r in scen]
    assert times == sorted(times)
    kinds = {r["kind"] for r in scen}
    assert {"speech", "gunshot", "burst"} <= kinds
    first_shot = next(r for r in scen if r["kind"] == "gunshot" and r["time_s"] > 19.9)
    assert first_shot["time_hms"].startswith("00:00:20.0")


def test_cyrillic_text_round_trips_through_xlsx_and_bom_csv(case):
    ws = openpyxl.load_workbook(case / "case.xlsx")["Segments"]
    col = [c.value for c in ws[1]].index("text") + 1
    texts = [r[0] for r in ws.iter_rows(min_row=2, min_col=col, max_col=col, values_only=True)]
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in (t or "")) for t in texts)
    raw = (case / "segments.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(case / "segments.csv", encoding="utf-8-sig") as f:
        csv_texts = [r["text"] for r in csv.DictReader(f)]
    assert sorted(t for t in csv_texts if t) == sorted(t for t in texts if t)


def _hostile_tables() -> dict:
    results = [{"status": "ok", "sha256": "a" * 64, "paths": ["x.wav"], "turns": [], "events": [], "bursts": [],
                "aligned_events": [],
                "segments": [{"track": 0, "start_s": float(i), "end_s": i + 0.5, "speaker": None, "language": "en",
                              "language_prob": 0.9, "language_top3": [["en", 0.9]], "language_uncertain": False,
                              "text": t, "text_en": t, "text_language": "en", "avg_logprob": -0.2,
                              "no_speech_prob": 0.1, "compression_ratio": 1.2, "words": [], "flags": []}
                             for i, t in enumerate(HOSTILE + ["x" * 40000])]}]
    return tables.build(results, [{"path": "=cmd|' /C calc'!A0", "status": "ok"}])


def test_formula_injection_is_written_as_text_in_xlsx_and_csv(tmp_path):
    tabs = _hostile_tables()
    sheets.write_xlsx(tabs, tmp_path / "case.xlsx", 32767)
    sheets.write_csvs(tabs, tmp_path)
    wb = openpyxl.load_workbook(tmp_path / "case.xlsx")
    ws = wb["Segments"]
    col = [c.value for c in ws[1]].index("text") + 1
    cells = [ws.cell(row=r, column=col) for r in range(2, 2 + len(HOSTILE))]
    # the words as spoken, unaltered (XML itself reads a lone CR back as LF)
    assert [c.value for c in cells] == [t.replace("\r", "\n") for t in HOSTILE]
    assert all(c.data_type == "s" for c in cells)  # ... and never a formula
    assert wb["Files"]["A2"].data_type == "s"
    long_cell = ws.cell(row=2 + len(HOSTILE), column=col).value
    assert len(long_cell) <= 32767 and long_cell.endswith(sheets.TRUNCATION_MARK)
    flags = ws.cell(row=2 + len(HOSTILE), column=[c.value for c in ws[1]].index("flags") + 1).value
    assert "text_truncated" in flags
    with open(tmp_path / "segments.csv", encoding="utf-8-sig", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)][: len(HOSTILE)]
    assert texts == ["'" + t for t in HOSTILE]


def test_libreoffice_shows_hostile_cells_as_text(tmp_path):
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice is not installed (make test-deps installs libreoffice-calc-nogui as root)")
    tabs = _hostile_tables()
    sheets.write_xlsx({"Segments": tabs["Segments"]}, tmp_path / "case.xlsx", 32767)
    subprocess.run([office, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "csv",
                    "--outdir", str(tmp_path / "out"), str(tmp_path / "case.xlsx")],
                   check=True, capture_output=True, timeout=180)
    with open(tmp_path / "out" / "case.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [r["text"] for r in rows][: len(HOSTILE)]
    # evaluated, "+1+1" would read 2 and "=HYPERLINK(...)" would read "click"
    assert texts[:4] == HOSTILE[:4]


def test_srt_and_vtt_parse_with_speaker_language_tags(case):
    folder = next(p.parent for p in case.glob("files/*/result.json")
                  if json.loads(p.read_text())["paths"] == ["scenario.mp4"])
    subs = list(srt.parse((folder / "transcript.srt").read_text(encoding="utf-8")))
    assert len(subs) >= 4
    assert all(s.content.startswith("[") and "]" in s.content for s in subs)
    assert {s.content.split("]")[0].strip("[").split(" | ")[-1] for s in subs} >= {"en", "it", "ru", "de"}
    starts = [s.start.total_seconds() for s in subs]
    assert starts == sorted(starts)
    cues = webvtt.read(str(folder / "transcript.vtt"))
    assert len(cues) == len(subs)
    en = list(srt.parse((folder / "transcript.en.srt").read_text(encoding="utf-8")))
    assert en and all(not any("\u0400" <= ch <= "\u04ff" for ch in s.content) for s in en)


def test_result_json_matches_its_schema(case):
    for p in case.glob("files/*/result.json"):
        outputs.validate(json.loads(p.read_text(encoding="utf-8")))


def test_timeline_png_is_written_for_each_file(case):
    pngs = list(case.glob("files/*/timeline.png"))
    assert len(pngs) == 2
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 20_000 for p in pngs)


def test_report_rebuilds_outputs_without_models(case, monkeypatch):
    (case / "case.xlsx").unlink()
    for p in case.glob("files/*/transcript.srt"):
        p.unlink()
    monkeypatch.setattr(pipeline.Analyzer, "speech", lambda self: pytest.fail("report must not load models"))
    outputs.report(case, config.load("default").outputs)
    assert (case / "case.xlsx").is_file() and len(list(case.glob("files/*/transcript.srt"))) == 2


def test_timeline_of_an_hour_stays_bounded_and_readable(tmp_path):
    from audiopipe.outputs import timeline

    rate = 16000
    audio = (0.01 * np.random.default_rng(0).standard_normal(rate * 3600)).astype(np.float32)[None, :]
    summary = timeline.summarise(audio, rate)
    assert summary["spec_steps"].shape[1] <= timeline.MAX_COLUMNS and summary["env_min"].size <= timeline.MAX_COLUMNS
    turns = [{"track": 0, "start_s": float(i), "end_s": i + 12.0, "speaker": f"SPEAKER_0{i // 20 % 3}",
              "source": "diarization"} for i in range(0, 3600, 20)]
    segments = [dict(t, language=["ru", "az", "en"][i % 3], language_uncertain=False, text="x")
                for i, t in enumerate(turns)]
    result = {"paths": ["hour.mp4"], "sha256": "0" * 64, "turns": turns, "segments": segments,
              "events": [{"track": 0, "time_s": 600.0, "is_gunshot": True}],
              "bursts": [{"track": 0, "start_s": 600.0, "end_s": 603.0, "burst_id": 0}]}
    timeline.save_summary(tmp_path / "t.npz", [summary])
    assert (tmp_path / "t.npz").stat().st_size < 5_000_000
    timeline.draw(tmp_path / "t.png", result, timeline.load_summary(tmp_path / "t.npz"))
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
