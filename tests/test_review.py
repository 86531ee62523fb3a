"""Reviewers' corrections: an edited workbook comes back into the case with an audit trail."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import soundfile as sf
from conftest import EVENTS, SPEECH, read_audio

from audiopipe import batch, cli, config, outputs, review
from audiopipe.outputs import tables

FAST = config.load("default").replace("speech", translate=False)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    """A German voice note, JFK's sentence and a real rifle burst after a second of quiet."""
    ev = tmp_path_factory.mktemp("evidence")
    shutil.copy(SPEECH / "de_01.wav", ev / "voice note.wav")
    shutil.copy(SPEECH / "jfk_en.flac", ev / "jfk.flac")
    burst, rate = read_audio(EVENTS / "gunshot_auto_burst_01.wav")
    quiet = 1e-4 * np.random.default_rng(0).standard_normal((burst.shape[0], rate))
    sf.write(ev / "burst.wav", np.concatenate([quiet, burst, quiet], axis=1).T, rate)
    return ev


@pytest.fixture()
def case(evidence, tmp_path) -> Path:
    out = tmp_path / "case"
    batch.run(evidence, out, FAST, quiet=True)
    return out


def _sheet(path: Path, name: str) -> tuple[openpyxl.Workbook, object, dict[str, int]]:
    wb = openpyxl.load_workbook(path)
    ws = wb[name]
    return wb, ws, {c.value: c.column for c in ws[1]}


def _edit(case: Path, dest: Path, edits: dict[str, list[tuple[int, str, object]]]) -> Path:
    """A reviewer's copy of case.xlsx with cells set: sheet -> [(row, column name, value)]."""
    wb = openpyxl.load_workbook(case / "case.xlsx")
    for sheet, cells in edits.items():
        ws = wb[sheet]
        cols = {c.value: c.column for c in ws[1]}
        for row, col, value in cells:
            ws.cell(row=row, column=cols[col], value=value)
    wb.save(dest)
    return dest


def _result_hashes(case: Path) -> dict[str, str]:
    return {p.name + p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in case.rglob("result.json")}


def _row_of(case: Path, sheet: str, column: str, value) -> int:
    _, ws, cols = _sheet(case / "case.xlsx", sheet)
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=cols[column]).value == value)


def test_corrections_come_back_with_who_when_and_what_and_the_machine_output_stays(case, tmp_path, capsys):
    machine = _result_hashes(case)
    de = _row_of(case, "Segments", "language", "de")
    edited = _edit(case, tmp_path / "edited by A.xlsx", {
        "Segments": [(de, "reviewed_text", "Korrigierter Text"), (de, "reviewed_language", "AZ"),
                     (de, "reviewed_by", "A. Reviewer")],
        "Events": [(2, "reviewed_is_gunshot", "no"), (2, "reviewer_note", "a door, heard on the original")],
    })
    assert cli.main(["review", "import", str(case), str(edited), "--by", "B. Default"]) == 0
    assert "4 correction(s) recorded" in capsys.readouterr().out
    log = review.read_log(case)
    digest = hashlib.sha256(edited.read_bytes()).hexdigest()
    assert {(e["sheet"], e["field"], e["new"]) for e in log} == {
        ("Segments", "reviewed_text", "Korrigierter Text"), ("Segments", "reviewed_language", "az"),
        ("Events", "reviewed_is_gunshot", False), ("Events", "reviewer_note", "a door, heard on the original")}
    assert all(e["source_sha256"] == digest and e["source"] == edited.name and e["old"] is None for e in log)
    assert {e["by"] for e in log if e["sheet"] == "Segments"} == {"A. Reviewer"}
    assert {e["by"] for e in log if e["sheet"] == "Events"} == {"B. Default"}
    seg = next(e for e in log if e["field"] == "reviewed_language")
    assert seg["machine"] == "de"  # the machine's value, recorded beside the correction
    assert next(e for e in log if e["field"] == "reviewed_is_gunshot")["machine"] is True

    assert _result_hashes(case) == machine  # result.json stays what the models said
    _, ws, cols = _sheet(case / "case.xlsx", "Segments")
    row = {name: ws.cell(row=de, column=c).value for name, c in cols.items()}
    assert row["reviewed_text"] == "Korrigierter Text" and row["reviewed_language"] == "az"
    assert row["text"] != "Korrigierter Text" and row["language"] == "de"
    with open(case / "events.csv", encoding="utf-8-sig", newline="") as f:
        ev = next(csv.DictReader(f))
    assert ev["reviewed_is_gunshot"] == "False" and ev["is_gunshot"] == "True"
    with open(case / "timeline.csv", encoding="utf-8-sig", newline="") as f:
        said = {r["row_id"]: r for r in csv.DictReader(f)}
    assert said[row["row_id"]]["reviewed"] == "text: Korrigierter Text; language: az"
    assert said[row["row_id"]]["reviewed_by"] == "A. Reviewer" and said[row["row_id"]]["what"] == row["text"]
    assert said[ev["row_id"]]["reviewed"] == "gunshot: no; note: a door, heard on the original"
    (subs,) = case.rglob("transcript.reviewed.srt")  # only the file that was corrected
    assert "Korrigierter Text" in (subs.parent / "review.html").read_text(encoding="utf-8")
    assert "| az] Korrigierter Text" in subs.read_text(encoding="utf-8")
    machine_srt = (subs.parent / "transcript.srt").read_text(encoding="utf-8")
    assert "Korrigierter Text" not in machine_srt and "| de]" in machine_srt
    manifest = json.loads((case / "manifest.json").read_text())
    assert "review/corrections.jsonl" in manifest["outputs"]
    assert "review/corrections.jsonl" in (case / "SHA256SUMS").read_text()

    # the same workbook again: nothing new; a second correction records the one it replaces
    assert cli.main(["review", "import", str(case), str(edited)]) == 0
    assert len(review.read_log(case)) == 4
    again = _edit(case, tmp_path / "edited again.xlsx", {"Segments": [(de, "reviewed_text", "Noch besser")]})
    assert cli.main(["review", "import", str(case), str(again), "--by", "C"]) == 0
    last = review.read_log(case)[-1]
    assert (last["old"], last["new"], last["by"]) == ("Korrigierter Text", "Noch besser", "C")


def test_bad_rows_are_refused_whole_with_a_reason_and_the_good_ones_kept(case, tmp_path, capsys):
    _, ws, _ = _sheet(case / "case.xlsx", "Segments")
    n_rows = ws.max_row
    assert n_rows >= 5, "JFK's sentence and the voice note give several segments"
    edited = _edit(case, tmp_path / "bad.xlsx", {"Segments": [
        (2, "reviewed_text", "=HYPERLINK(\"http://evil.example\",\"x\")"),  # a formula
        (3, "reviewed_language", "xx"), (3, "reviewed_text", "fine text, bad language"),
        (4, "row_id", "000000000000:0:s99"), (4, "reviewed_text", "moved row"),
        (5, "sha256", "f" * 64), (5, "reviewed_text", "from another case"),
        (n_rows, "reviewed_text", "a good correction"),
    ]})
    assert cli.main(["review", "import", str(case), str(edited)]) == 4
    out = capsys.readouterr().out
    assert "1 correction(s) recorded" in out and "4 row(s) refused" in out
    reasons = [line for line in out.splitlines() if "refused:" in line]
    assert len(reasons) == 4
    assert "formula" in reasons[0] and "not a language code" in reasons[1]
    assert "changed id" in reasons[2] and "not in this case" in reasons[3]
    log = review.read_log(case)
    assert [e["new"] for e in log] == ["a good correction"]


def test_a_model_rerun_keeps_the_corrections_and_reports_those_whose_row_is_gone(evidence, case, tmp_path):
    _, ws, cols = _sheet(case / "case.xlsx", "Segments")
    corrected_id = ws.cell(row=2, column=cols["row_id"]).value
    edited = _edit(case, tmp_path / "e.xlsx", {"Segments": [(2, "reviewed_text", "kept")],
                                               "Events": [(2, "reviewed_is_gunshot", "yes")]})
    assert cli.main(["review", "import", str(case), str(edited)]) == 0
    batch.run(evidence, case, FAST.replace("events", enabled=False), quiet=True)  # events gone
    _, ws, cols = _sheet(case / "case.xlsx", "Segments")
    # found by its id, not its place: without the events stage the burst's noise may be heard as
    # speech, and its new row can sort before the corrected one
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=cols["row_id"]).value == corrected_id)
    assert ws.cell(row=row, column=cols["reviewed_text"]).value == "kept"
    sha12 = ws.cell(row=row, column=cols["sha256"]).value[:12]
    assert '"reviewed_text":"kept"' in (case / "files" / sha12 / "review.html").read_text(encoding="utf-8")
    _, ws, _ = _sheet(case / "case.xlsx", "Events")
    assert ws.max_row == 1  # no event rows any more ...
    inputs = outputs.load_manifest(case)["inputs"]
    _, gone = review.apply(tables.build(outputs.load_results(case, inputs), inputs), review.read_log(case))
    assert [e["field"] for e in gone] == ["reviewed_is_gunshot"]  # ... and its correction is still in the log
    assert len(review.read_log(case)) == 2


def test_a_sheet_saved_as_csv_imports_the_same_way(case, tmp_path, capsys):
    """events.csv as the reviewer saved it (UTF-8 with BOM, the columns audiopipe wrote)."""
    with open(case / "events.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["reviewed_is_gunshot"] = "No"
    rows[0]["reviewed_by"] = "D. Reviewer"
    edited = tmp_path / "events.csv"
    with open(edited, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert cli.main(["review", "import", str(case), str(edited)]) == 0
    (entry,) = review.read_log(case)
    assert (entry["sheet"], entry["row_id"], entry["new"], entry["by"]) == ("Events", rows[0]["row_id"], False,
                                                                            "D. Reviewer")


def test_a_correction_follows_its_segment_by_time_when_a_rerun_renumbers_them():
    """Segment 1 (2-4 s) was corrected; after a rerun a new segment 0 comes first and the
    corrected words are segment 2 at 2.1-4.0 s: the correction goes there, not to the new
    segment 1; a correction whose time matches nothing any more is returned apart."""
    rows = [{"sha256": "a" * 64, "track": 0, "row_id": f"aaaaaaaaaaaa:0:s{i}", "start_s": a, "end_s": b,
             **{c: None for c in review.REVIEW_COLUMNS["Segments"]}}
            for i, (a, b) in enumerate([(0.0, 1.0), (1.0, 2.0), (2.1, 4.0)])]
    log = [{"sheet": "Segments", "row_id": "aaaaaaaaaaaa:0:s1", "start_s": 2.0, "end_s": 4.0, "by": "A",
            "field": "reviewed_text", "new": "corrected"},
           {"sheet": "Segments", "row_id": "aaaaaaaaaaaa:0:s7", "start_s": 30.0, "end_s": 31.0, "by": "A",
            "field": "reviewed_text", "new": "gone"}]
    out, gone = review.apply({"Segments": pd.DataFrame(rows)}, log)
    assert list(out["Segments"]["reviewed_text"]) == [None, None, "corrected"]
    assert list(out["Segments"]["reviewed_by"]) == [None, None, "A"]
    assert [e["new"] for e in gone] == ["gone"]


def test_a_workbook_saved_by_libreoffice_imports_the_same_way(case, tmp_path):
    """The reviewer's copy edited, then opened and saved again by LibreOffice Calc (its own
    writer, its own types): the correction comes through unchanged."""
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice is not installed (make test-deps installs libreoffice-calc-nogui as root)")
    row = _row_of(case, "Segments", "language", "de")
    edited = _edit(case, tmp_path / "edited.xlsx", {"Segments": [(row, "reviewed_language", "az"),
                                                                 (row, "reviewer_note", "Azeri, not German")]})
    subprocess.run([office, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "xlsx",
                    "--outdir", str(tmp_path / "lo-saved"), str(edited)], check=True, capture_output=True, timeout=180)
    saved = tmp_path / "lo-saved" / "edited.xlsx"
    assert saved.read_bytes() != edited.read_bytes()
    assert cli.main(["review", "import", str(case), str(saved), "--by", "E"]) == 0
    assert {(e["field"], e["new"], e["by"]) for e in review.read_log(case)} == {
        ("reviewed_language", "az", "E"), ("reviewer_note", "Azeri, not German", "E")}


def test_a_table_longer_than_a_worksheet_goes_on_several_and_imports_the_same_way(evidence, tmp_path):
    """A worksheet ends at 1,048,576 rows; the words of a large case do not. With the limit set
    at 3 rows, every table goes on as many sheets as it needs ("Words", "Words (2)", ...),
    together the rows of its CSV, and a correction made on a second Segments sheet comes back."""
    case = tmp_path / "case"
    batch.run(evidence, case, FAST.replace("outputs", max_sheet_rows=3), quiet=True)
    wb = openpyxl.load_workbook(case / "case.xlsx")
    for table in ("Words", "Segments", "Events"):
        parts = [name for name in wb.sheetnames if review.table_of(name) == table]
        assert parts[:2] == [table, f"{table} (2)"], wb.sheetnames
        assert all(wb[name].max_row - 1 <= 3 for name in parts)
        with open(case / f"{table.lower()}.csv", encoding="utf-8-sig", newline="") as f:
            assert sum(wb[name].max_row - 1 for name in parts) == sum(1 for _ in csv.DictReader(f))
    edited = _edit(case, tmp_path / "edited.xlsx", {"Segments (2)": [(2, "reviewed_text", "on the second sheet")]})
    assert cli.main(["review", "import", str(case), str(edited), "--by", "R"]) == 0
    (entry,) = review.read_log(case)
    assert (entry["sheet"], entry["field"], entry["new"]) == ("Segments", "reviewed_text", "on the second sheet")
