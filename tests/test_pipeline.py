"""The batch: case folder, provenance, resume, kill in the middle, bad inputs, duplicates."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audiopipe import batch, config, pipeline
from audiopipe.errors import UnreadableFile
from conftest import REPO, SCENARIO, SPEECH, encode, read_audio

FAST = config.load("default").replace("speech", enabled=False).replace("diarization", enabled=False)


def _snapshot(folder: Path) -> dict[str, tuple[str, float, int]]:
    """SHA-256, mtime and mode of every file: the evidence must never change."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime, st.st_mode)
    return out


@pytest.fixture()
def evidence(tmp_path) -> Path:
    ev = tmp_path / "evidence"
    (ev / "phone" / "DCIM").mkdir(parents=True)
    shutil.copy(SPEECH / "jfk_en.flac", ev / "phone" / "jfk.flac")
    shutil.copy(SPEECH / "jfk_en.flac", ev / "copy of jfk.flac")  # duplicate under another name
    shutil.copy(SPEECH / "de_01.wav", ev / "phone" / "DCIM" / "note.wav")
    jfk = read_audio(SPEECH / "jfk_en.flac")
    encode(ev / "phone" / "DCIM" / "VID_0001.mp4", [jfk], "aac", video=True)
    encode(ev / "no_audio.mp4", [], "aac", video=True)
    (ev / "zero.wav").write_bytes(b"")
    (ev / "corrupt.mp3").write_bytes(os.urandom(20_000))
    (ev / "readme.txt").write_text("chain of custody form")
    return ev


def _rows(case: Path) -> dict[str, dict]:
    with open(case / "files.csv", encoding="utf-8-sig") as f:
        return {r["path"]: r for r in csv.DictReader(f)}


def test_batch_writes_case_folder_and_skips_bad_files_with_reasons(evidence, tmp_path):
    before = _snapshot(evidence)
    case = tmp_path / "case"
    summary = batch.run(evidence, case, FAST, quiet=True)
    assert _snapshot(evidence) == before  # originals untouched
    assert set(p.name for p in evidence.rglob("*")) == set(before_names(before))  # nothing written inside

    rows = _rows(case)
    # the same bytes under two names: analysed once (the first in walk order), both listed
    assert rows["copy of jfk.flac"]["status"] == "ok"
    assert rows["phone/jfk.flac"]["status"] == "duplicate"
    assert rows["phone/jfk.flac"]["duplicate_of"] == "copy of jfk.flac"
    assert rows["phone/jfk.flac"]["sha256"] == rows["copy of jfk.flac"]["sha256"]
    assert rows["phone/DCIM/VID_0001.mp4"]["status"] == "ok"
    assert rows["no_audio.mp4"]["error_kind"] == "no_audio"
    assert "no audio stream in no_audio.mp4" in rows["no_audio.mp4"]["error"]
    assert rows["zero.wav"]["error_kind"] == "empty"
    assert rows["corrupt.mp3"]["error_kind"] == "corrupt"
    assert rows["readme.txt"]["status"] == "skipped"
    assert summary.errors == 3 and summary.duplicates == 1 and summary.analysed == 3

    manifest = json.loads((case / "manifest.json").read_text())
    assert manifest["config_hash"] == FAST.hash()
    assert manifest["config"]["speech"]["enabled"] is False
    assert manifest["software"]["audiopipe"] and manifest["software"]["av"]
    jfk_sha = hashlib.sha256((SPEECH / "jfk_en.flac").read_bytes()).hexdigest()
    entry = next(i for i in manifest["inputs"] if i["path"] == "copy of jfk.flac")
    assert entry["sha256"] == jfk_sha and entry["probe"]["streams"][0]["sample_rate_hz"] == 44100
    result = json.loads((case / "files" / jfk_sha[:12] / "result.json").read_text())
    assert result["paths"] == ["copy of jfk.flac", "phone/jfk.flac"]
    assert result["tracks"][0]["native_rate_hz"] == 44100 and result["tracks"][0]["channels"] == 2

    # SHA256SUMS lists every output, and every line checks out
    sums = (case / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums}
    for rel, digest in listed.items():
        assert hashlib.sha256((case / rel).read_bytes()).hexdigest() == digest
    assert "manifest.json" in listed and "case.xlsx" in listed and "files.csv" in listed
    log = (case / "audiopipe.log").read_text()
    assert "corrupt.mp3" in log and "no_audio.mp4" in log


def before_names(snapshot):
    names = set()
    for rel in snapshot:
        names.update(Path(rel).parts)
    names.update({"copy of jfk.flac"})
    return names


def test_second_run_redoes_nothing_and_says_so(evidence, tmp_path):
    case = tmp_path / "case"
    batch.run(evidence, case, FAST, quiet=True)
    mtimes = {p: p.stat().st_mtime_ns for p in case.rglob("result.json")}
    again = batch.run(evidence, case, FAST, quiet=True)
    assert again.analysed == 0 and again.reused == 4  # 3 ok + 1 permanent error kept
    assert {p: p.stat().st_mtime_ns for p in case.rglob("result.json")} == mtimes
    assert "nothing to redo" in (case / "audiopipe.log").read_text()


def test_changed_config_redoes_the_files(evidence, tmp_path):
    case = tmp_path / "case"
    batch.run(evidence, case, FAST, quiet=True)
    other = FAST.replace("events", gunshot_threshold=0.9)
    again = batch.run(evidence, case, other, quiet=True)
    assert again.analysed == 3 and again.reused == 0


def test_case_folder_inside_the_evidence_is_refused(evidence):
    with pytest.raises(UnreadableFile, match="inside the evidence folder"):
        batch.run(evidence, evidence / "case", FAST, quiet=True)
    assert not (evidence / "case").exists()


def test_run_killed_with_sigkill_loses_only_the_file_in_progress(tmp_path):
    ev = tmp_path / "evidence"
    ev.mkdir()
    jfk = read_audio(SPEECH / "jfk_en.flac")
    for i in range(6):  # different content per file, so no two are duplicates
        encode(ev / f"clip_{i}.mkv", [(jfk[0][:, i * 1000:], 48000)], "libopus")
    case = tmp_path / "case"
    cmd = [sys.executable, "-m", "audiopipe.cli", "run", str(ev), "--out", str(case), "--quiet", "--no-speech", "--no-diarization"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(case.glob("files/*/result.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(case.glob("files/*/result.json")))
    assert 2 <= done_before < 6, "the kill must land in the middle of the batch"
    for p in case.glob("files/*/result.json"):
        json.loads(p.read_text())  # atomic writes: no half-written result
    assert not (case / "manifest.json").exists() or json.loads((case / "manifest.json").read_text())
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = _rows(case)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows.values())
    manifest = json.loads((case / "manifest.json").read_text())
    assert manifest["counts"]["reused"] >= done_before and manifest["counts"]["analysed_now"] <= 6 - done_before + 1


# the run as the CLI makes it, with a decoder that crashes the process on one file (the
# fault that a native decoder bug, such as PyAV's with 7.1 audio, caused)
CRASHING_RUN = """
import os, signal, sys
from audiopipe import cli, ingest
load = ingest.load
def crashing_load(media, cfg):
    if "crash" in media.path:
        os.kill(os.getpid(), signal.SIGSEGV)
    return load(media, cfg)
ingest.load = crashing_load
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_file_that_crashes_the_process_is_retried_then_skipped_on_resume(tmp_path):
    """A crash inside native code ends the whole run, and resuming begins the same file again:
    after 1 + max_retries (3) runs that ended on it, the file gets an error row and the batch
    goes on past it; the files after it are analysed, the ones before it not redone."""
    ev = tmp_path / "evidence"
    ev.mkdir()
    for name, source in (("a.wav", "de_01.wav"), ("b_crash.wav", "es_01.wav"), ("c.wav", "it_01.wav")):
        shutil.copy(SPEECH / source, ev / name)
    case = tmp_path / "case"
    cmd = [sys.executable, "-c", CRASHING_RUN, "run", str(ev), "--out", str(case), "--quiet", "--no-speech",
           "--no-diarization"]
    for attempt in range(1, 4):
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        assert out.returncode == -signal.SIGSEGV, (attempt, out.stderr)
        assert len(list(case.glob("files/*/result.json"))) == 1  # a.wav, analysed in the first run only
        assert attempt == 1 or f"the run ended while analysing it {attempt - 1} time(s) before" in out.stderr
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 3, out.stderr  # some files in error, the batch finished
    rows = _rows(case)
    assert rows["a.wav"]["status"] == rows["c.wav"]["status"] == "ok"
    assert rows["b_crash.wav"]["error_kind"] == "worker_lost"
    assert "the run ended while analysing b_crash.wav 3 time(s)" in rows["b_crash.wav"]["error"]
    assert "1 reused" in (case / "audiopipe.log").read_text()
    # without the crash (the decoder fixed), deleting the mark named in the error retries it
    mark = next(case.glob("files/*/.begun.json"))
    assert str(mark) in rows["b_crash.wav"]["error"]
    mark.unlink()
    plain = [sys.executable, "-m", "audiopipe.cli", *cmd[3:]]
    assert subprocess.run(plain, cwd=REPO, capture_output=True).returncode == 0
    assert _rows(case)["b_crash.wav"]["status"] == "ok" and not list(case.glob("files/*/.begun.json"))


def test_times_are_on_the_file_timeline_when_the_audio_begins_after_the_video(tmp_path):
    """A video whose audio stream begins 1.5 s in (screen recordings, files cut without
    re-encoding): a player shows a shot 1.5 s later than it lies in the audio stream. The same
    real audio (8 s of the scenario: Russian speech over automatic fire) muxed from 0 s and
    from 1.5 s, all stages on: every time of the late one is the other's plus 1.5 s, and its
    picture and listening copy are on the same timeline."""
    import av

    audio, rate = read_audio(SCENARIO / "scenario_reference.wav")
    cut = audio[:, int(19.5 * rate): int(27.5 * rate)]
    ev = tmp_path / "evidence"
    ev.mkdir()
    # PCM: no encoder priming, so that both streams hold the very same samples
    encode(ev / "from_0.mov", [(cut, rate)], "pcm_s16le", video=True)
    encode(ev / "late.mov", [(cut, rate)], "pcm_s16le", video=True, audio_start_s=1.5)
    case = tmp_path / "case"
    batch.run(ev, case, config.load("default"), quiet=True)
    rows = _rows(case)
    plain, late = (json.loads((case / rows[name]["result_folder"] / "result.json").read_text())
                   for name in ("from_0.mov", "late.mov"))
    start_s = late["tracks"][0]["start_s"]
    assert start_s == 1.5 and plain["tracks"][0]["start_s"] == 0.0
    shots = [e["time_s"] for e in plain["events"] if e["is_gunshot"]]
    assert len(shots) >= 6, shots  # of the 15 rounds at 20.0-26.2 s of the scenario, here 0.5-6.7 s
    for name, fields in (("events", ("time_s",)), ("bursts", ("start_s", "end_s")), ("turns", ("start_s", "end_s")),
                         ("segments", ("start_s", "end_s")), ("languages", ("start_s", "end_s"))):
        assert len(plain[name]) == len(late[name]) > 0, name
        for a, b in zip(plain[name], late[name]):
            for f in fields:
                assert b[f] == pytest.approx(a[f] + 1.5, abs=1e-5), (name, f, a, b)
    for a, b in zip(plain["segments"], late["segments"]):
        assert a["text"] == b["text"] and a["language"] == b["language"] == "ru"
        for wa, wb in zip(a["words"], b["words"]):
            assert wb["start_s"] == pytest.approx(wa["start_s"] + 1.5, abs=1e-5)
    # the timeline picture's summary and the listening copy start at the file's 0 s
    folder = case / rows["late.mov"]["result_folder"]
    summary = np.load(folder / "timeline.npz")
    assert summary["t0_duration_s"] == pytest.approx(1.5 + cut.shape[1] // 1024 * 1024 / rate, abs=1e-3)
    with av.open(str(next(folder.glob("audio.t0.*")))) as copy:
        heard = np.concatenate([f.to_ndarray().reshape(-1) for f in copy.decode(audio=0)])
        heard_rate = copy.streams.audio[0].rate
    assert np.abs(heard[: int(1.4 * heard_rate)]).max() < 1e-3  # silence before the audio begins
    loudest_s = np.argmax(np.abs(heard)) / heard_rate
    assert min(abs(loudest_s - t) for t in (e["time_s"] for e in late["events"])) < 0.05


def test_a_file_cut_short_is_flagged_in_the_files_sheet(tmp_path):
    """A copy that stopped half-way decodes without an error: the Files sheet says that only
    part of it was analysed (flags, shaded), beside a whole file with none."""
    from openpyxl import load_workbook

    ev = tmp_path / "evidence"
    ev.mkdir()
    full = encode(ev / "whole.mkv", [read_audio(SPEECH / "jfk_en.flac")], "flac")
    (ev / "half.mkv").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    case = tmp_path / "case"
    batch.run(ev, case, FAST, quiet=True)
    rows = _rows(case)
    assert rows["half.mkv"]["status"] == "ok" and rows["half.mkv"]["flags"] == "shorter_than_declared_track_0"
    assert rows["whole.mkv"]["flags"] == ""
    files = load_workbook(case / "case.xlsx")["Files"]
    header = [c.value for c in files[1]]
    col = chr(ord("A") + header.index("flags"))
    rules = [r for rng in files.conditional_formatting for r in rng.rules]
    assert any(f"LEN(${col}2)>0" in r.formula[0] for r in rules)
    index = (case / "review.html").read_text(encoding="utf-8")
    assert index.count("shorter_than_declared_track_0") == 1  # the review page's list of files


def test_json_log_lines_are_json(evidence, tmp_path, capfd):
    batch.run(evidence, tmp_path / "case", FAST, quiet=False, json_log=True)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("{")]
    parsed = [json.loads(line) for line in lines]
    assert any(p.get("error_kind") == "corrupt" for p in parsed)


def test_a_name_with_a_newline_stays_on_one_log_line(tmp_path, capfd):
    """A file may be named with control characters in it: each log record stays one line
    (the name's newline written as \\n), while files.csv keeps the real name."""
    ev = tmp_path / "evidence"
    ev.mkdir()
    shutil.copy(SPEECH / "de_01.wav", ev / "note\nforged ok: line.wav")
    (ev / "bad\x1b[2Jname.mp3").write_bytes(os.urandom(5_000))
    case = tmp_path / "case"
    batch.run(ev, case, FAST, quiet=False)
    console = capfd.readouterr().err.splitlines()
    logged = (case / "audiopipe.log").read_text(encoding="utf-8").splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", line) for line in logged), logged
    for lines in (console, logged):
        assert any("ok: note\\nforged ok: line.wav (" in line for line in lines), lines
        assert any("bad\\x1b[2Jname.mp3" in line for line in lines) and not any("\x1b" in line for line in lines)
    assert set(_rows(case)) == {"note\nforged ok: line.wav", "bad\x1b[2Jname.mp3"}
    # a workbook cell cannot hold ESC (XML 1.0): the escape stands in for it there
    from openpyxl import load_workbook
    files = load_workbook(case / "case.xlsx", read_only=True)["Files"]
    paths = {row[0] for row in files.iter_rows(min_row=2, values_only=True)}
    assert {"note\nforged ok: line.wav", "bad\\x1b[2Jname.mp3"} <= paths, paths


def test_unreadable_file_and_folder_get_rows_and_the_batch_goes_on():
    """Permissions are met as an ordinary user meets them: root reads everything, so as root
    the run is made without the capabilities that bypass file permissions (setpriv)."""
    import tempfile

    base = Path(tempfile.mkdtemp())
    ev = base / "evidence"
    (ev / "locked_folder").mkdir(parents=True)
    shutil.copy(SPEECH / "de_01.wav", ev / "readable.wav")
    shutil.copy(SPEECH / "de_01.wav", ev / "locked_folder" / "inside.wav")
    shutil.copy(SPEECH / "it_01.wav", ev / "locked.wav")
    (ev / "locked.wav").chmod(0o000)
    (ev / "locked_folder").chmod(0o000)
    case = base / "case"
    cmd = [sys.executable, "-m", "audiopipe.cli", "run", str(ev), "--out", str(case), "--quiet", "--no-speech",
           "--no-diarization"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux): permissions cannot be enforced")
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *cmd]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 3, out.stderr  # finished, with per-file errors
        rows = _rows(case)
        assert rows["readable.wav"]["status"] == "ok"
        assert rows["locked.wav"]["error_kind"] == "unreadable"
        assert "permission denied" in rows["locked.wav"]["error"]
        assert rows["locked_folder"]["status"] == "skipped" and "cannot be read" in rows["locked_folder"]["error"]
    finally:
        (ev / "locked_folder").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_disk_full_gives_clear_errors_and_keeps_what_was_written(tmp_path):
    """A case folder on a tiny filesystem: files that fit are kept, the rest are error rows,
    the run ends with a message that says what to do, and a rerun with space finishes the job."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    ev = tmp_path / "evidence"
    ev.mkdir()
    for name in ("jfk_en.flac", "de_01.wav", "it_01.wav", "es_01.wav"):
        shutil.copy(SPEECH / name, ev / name)
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        case = small / "case"
        cmd = [sys.executable, "-m", "audiopipe.cli", "run", str(ev), "--out", str(case), "--quiet", "--no-speech",
               "--no-diarization"]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode != 0
        assert "No space left on device" in out.stderr and "run the same command again" in out.stderr
        assert (case / "files.csv").is_file() or "cannot write the case outputs" in out.stderr
        assert "Traceback" not in out.stderr
        kept = list(case.glob("files/*/result.json"))
        for p in kept:
            json.loads(p.read_text())  # whatever was written is whole
        assert not list(case.rglob("*.tmp"))  # no half-written temp files left behind
        moved = tmp_path / "case"
        shutil.copytree(case, moved)
    finally:
        subprocess.run(["umount", str(small)])
    again = subprocess.run([*cmd[:6], str(moved), *cmd[7:]], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert len(_rows(moved)) == 4 and all(r["status"] == "ok" for r in _rows(moved).values())


def test_long_files_log_their_progress_inside_the_file(tmp_path, monkeypatch):
    """An hour-long file takes a long while: its stages and their inner steps are logged as
    they go. (The threshold is lowered so that an 11-s recording counts as long.)"""
    monkeypatch.setattr(pipeline, "LONG_FILE_S", 5.0)
    ev = tmp_path / "evidence"
    ev.mkdir()
    shutil.copy(SPEECH / "jfk_en.flac", ev / "{odd} name.flac")
    cfg = config.load("default").replace("speech", translate=False)
    batch.run(ev, tmp_path / "case", cfg, quiet=True)
    text = (tmp_path / "case" / "audiopipe.log").read_text(encoding="utf-8")
    for line in ("{odd} name.flac track 0: diarization segmentation 100%",
                 "{odd} name.flac track 0: diarization embeddings 100%",
                 "{odd} name.flac track 0: speech windows 100%", "{odd} name.flac: decoded in"):
        assert line in text, text


def test_native_rate_samples_are_let_go_after_events_and_the_timeline_summary():
    """An hour of 48-kHz stereo is 1.4 GB of samples: not held through diarization and
    speech. The timeline summary, made from them first, still reaches the case folder."""
    from audiopipe.records import FileResult, MediaFile

    p = SPEECH / "ar_01.wav"  # 44.1 kHz stereo
    media = MediaFile(p.name, str(p), p.stat().st_size, "0" * 64)
    result = FileResult(sha256=media.sha256, paths=[media.path], size_bytes=media.size_bytes, status="ok")
    (summary,), (copy,), (prints,) = pipeline.Analyzer(FAST).analyse(media, None, result)
    assert result.tracks[0].audio_native.size == 0 and result.tracks[0].audio_16k.size > 0
    assert float(summary["duration_s"]) == pytest.approx(10.05, abs=0.01) and summary["spec_steps"].size > 0
    assert copy[:4] == b"\x1a\x45\xdf\xa3"  # the review page's listening copy (WebM), made before they went
    assert prints.duration_s == pytest.approx(10.05, abs=0.01) and prints.hashes.size > 0  # the sync fingerprint


#: ``audiopipe run`` with every network call made from Python recorded (audit hooks see each
#: socket connection and name lookup), and diarization made to fail on tracks under 20 s (the
#: fallback to VAD turns is part of the run that must stay on the machine)
OFFLINE_RUN = """
import json, sys
calls = []
sys.addaudithook(lambda event, args: calls.append(f"{event} {args!r}")
                 if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "urllib.Request") else None)
from audiopipe import cli
from audiopipe.diarize import stage
real = stage.Diarizer.__call__
def failing(self, track, progress=None, **kwargs):
    if track.duration_s < 20:
        raise RuntimeError("diarization made to fail for the test")
    return real(self, track, progress, **kwargs)
stage.Diarizer.__call__ = failing
code = cli.main(sys.argv[2:])
open(sys.argv[1], "w").write(json.dumps(calls))
sys.exit(code)
"""


def test_a_whole_run_stays_on_the_machine_even_when_diarization_fails(tmp_path):
    """Every stage on, in a network namespace with no network, one file whose diarization
    fails: both files are analysed, and no Python code asked for a connection or a name."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n (a network namespace) needs root here")
    ev = tmp_path / "evidence"
    ev.mkdir()
    shutil.copy(SPEECH / "jfk_en.flac", ev / "jfk.flac")
    shutil.copy(SCENARIO / "scenario.mp4", ev / "scenario.mp4")
    case, calls = tmp_path / "case", tmp_path / "calls.json"
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", OFFLINE_RUN, str(calls), "run", str(ev),
                           "--out", str(case), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(calls.read_text()) == []
    results = {Path(r["paths"][0]).name: r for r in
               (json.loads(p.read_text(encoding="utf-8")) for p in case.glob("files/*/result.json"))}
    jfk, scenario = results["jfk.flac"], results["scenario.mp4"]
    assert "diarization_failed_vad_turns" in jfk["flags"] and jfk["stages"]["diarization"].startswith("failed")
    assert "your country" in " ".join(s["text"] for s in jfk["segments"]).lower()
    assert {scenario["stages"][k] for k in ("ingest", "events", "diarization", "speech", "align")} == {"done"}
    assert sum(e["category"] == "gunshot" for e in scenario["events"]) >= 15
    assert {s["language"] for s in scenario["segments"]} >= {"en", "ru"}
    assert scenario["segments"][0]["text_en"] is not None or scenario["segments"][0]["language"] == "en"
