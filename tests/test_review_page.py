"""The review page: ``review.html`` opened from ``file://`` in a real headless Chromium plays
each line from the listening copy, follows playback, filters, and shows untrusted text as text."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import av
import librosa
import numpy as np
import openpyxl
import pytest
from conftest import EVENTS, SCENARIO, read_audio

from audiopipe import batch, cli, config
from audiopipe.outputs import page

FAST = config.load("default").replace("speech", translate=False)
#: an evidence file may be called anything; its name is shown, never run
ODD_NAME = '<img src=x onerror="window.__pwned=1">.mp4'
#: what a reviewer pasted (a caption copied from a web page, say)
INJECTED = '</script><script>window.__pwned=2</script><b id="injected">bold?</b>'


def test_page_data_cannot_end_its_script_block_or_be_replaced():
    data = {"text": INJECTED + " __DATA__ __SCRIPT__ <!-- & \u2028", "n": 1}
    doc = page._fill("<title>__TITLE__</title><script type=application/json>__DATA__</script>"
                     "<script>__SCRIPT__</script>", "<b>t</b>", "run();", data)
    assert doc.count("</script>") == 2 and "<!--" not in doc and "<b>" not in doc
    block = re.search(r"application/json>(.*?)</script>", doc, re.S).group(1)
    assert json.loads(block) == data
    assert "run();" in doc and "__SCRIPT__" in block  # the data's own text is left as it was


@pytest.mark.parametrize("fmt", ["opus", "mp3"])
def test_the_listening_copy_keeps_the_track_s_time(fmt):
    """A real rifle burst after 1.234 s of quiet, stereo at 44.1 kHz: decoded again, the
    copy lines up with the track to the millisecond (the encoder's delay is in the container)."""
    burst, rate = read_audio(EVENTS / "gunshot_auto_burst_01.wav")
    burst = np.vstack([burst, burst]) if burst.shape[0] == 1 else burst
    lead = np.zeros((2, int(1.234 * rate)), np.float32)
    track = np.concatenate([lead, burst, lead], axis=1)
    data = page.audio_copy(track, rate, fmt, kbps=48)
    with av.open(io.BytesIO(data)) as c:
        copy_rate = c.streams.audio[0].rate
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    ref = librosa.resample(track.mean(axis=0), orig_sr=rate, target_sr=copy_rate)
    assert copy_rate == 48000
    assert abs(decoded.size - ref.size) / copy_rate < 0.03
    n = min(decoded.size, ref.size)
    xc = np.correlate(decoded[:n], ref[:n], "full")
    lag_ms = (int(np.argmax(xc)) - (n - 1)) / copy_rate * 1000
    assert abs(lag_ms) <= 1.0
    onset = lambda y: np.argmax(np.abs(y) > 0.3 * np.abs(y).max()) / copy_rate  # noqa: E731
    assert onset(decoded) == pytest.approx(onset(ref), abs=0.002)
    assert len(data) < 1.3 * 48000 / 8 * track.shape[1] / rate  # about 48 kb/s


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Path:
    """The scenario video (speech in four languages, automatic fire, single shots, look-alikes)
    under an odd name, analysed; then a reviewer's corrections imported (one with markup in it)."""
    ev = tmp_path_factory.mktemp("evidence")
    shutil.copy(SCENARIO / "scenario.mp4", ev / ODD_NAME)
    out = tmp_path_factory.mktemp("cases") / "case"
    batch.run(ev, out, FAST, quiet=True)
    wb = openpyxl.load_workbook(out / "case.xlsx")
    ws = wb["Segments"]
    cols = {c.value: c.column for c in ws[1]}
    de = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, cols["language"]).value == "de")
    ws.cell(de, cols["reviewed_text"], INJECTED)
    ws.cell(de, cols["reviewed_language"], "az")
    ws.cell(de, cols["reviewed_by"], "A. Reviewer")
    wb.save(out.parent / "edited.xlsx")
    assert cli.main(["review", "import", str(out), str(out.parent / "edited.xlsx")]) == 0
    return out


@pytest.fixture()
def opened(case, browser):
    """The file's review page from file://, its audio's metadata loaded; what it asked for
    and what it complained of."""
    (page_path,) = case.glob("files/*/review.html")
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = {"requests": [], "errors": [], "console": []}
    pg.on("request", lambda r: seen["requests"].append(r.url))
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    pg.on("console", lambda m: seen["console"].append(m.text) if m.type in ("error", "warning") else None)
    pg.goto(page_path.as_uri())
    pg.wait_for_function("() => document.getElementById('audio').readyState >= 1", timeout=20000)
    yield pg, seen, page_path
    pg.close()


def _visible(pg, selector: str = "#lines tr") -> list[dict]:
    return pg.eval_on_selector_all(selector, """rows => rows.filter(r => !r.hidden).map(r => ({
        cls: r.className, start: Number(r.dataset.start), text: r.innerText}))""")


def test_a_click_on_a_line_plays_from_its_start_and_the_current_line_follows(opened):
    pg, seen, page_path = opened
    result = json.loads((page_path.parent / "result.json").read_text())
    duration = pg.evaluate("document.getElementById('audio').duration")
    assert duration == pytest.approx(result["tracks"][0]["duration_s"], abs=0.05)
    speech = pg.locator("#lines tr.speech")
    assert speech.count() == len(result["segments"]) >= 3
    target = speech.nth(2)
    start = float(target.get_attribute("data-start"))
    assert start == pytest.approx(result["segments"][2]["start_s"], abs=1e-6)
    target.click()
    t = pg.evaluate("document.getElementById('audio').currentTime")
    assert start - 0.01 <= t < start + 1.0
    pg.wait_for_function("() => document.querySelector('#lines tr.current') !== null", timeout=5000)
    assert pg.locator("#lines tr.current").get_attribute("data-start") == target.get_attribute("data-start")
    # playback moves on to the next line: the highlight goes with it
    nxt = speech.nth(3)
    pg.evaluate(f"document.getElementById('audio').currentTime = {float(nxt.get_attribute('data-start')) + 0.05}")
    pg.wait_for_function("s => document.querySelector('#lines tr.current')?.dataset.start === s",
                         arg=nxt.get_attribute("data-start"), timeout=5000)
    # a shot in the lanes picture: a click there plays from that time
    box = pg.locator("#lanes").bounding_box()
    pg.mouse.click(box["x"] + box["width"] - 5, box["y"] + 10)
    assert pg.evaluate("document.getElementById('audio').currentTime") > 0.95 * duration
    assert all(u.startswith("file://") for u in seen["requests"]), seen["requests"]
    assert not seen["errors"] and not seen["console"], seen


def test_filters_hide_the_lines_they_leave_out(opened):
    pg, _, page_path = opened
    result = json.loads((page_path.parent / "result.json").read_text())
    every = _visible(pg)
    shots = [r for r in every if "cat-gunshot" in r["cls"] or "cat-possible_gunshot" in r["cls"]]
    assert shots and len(every) > len(shots)
    assert pg.inner_text("#count").startswith(f"{len(every)} of ")
    pg.select_option("#f-language", "en")
    english = _visible(pg, "#lines tr.speech")
    assert 0 < len(english) < sum(1 for s in result["segments"])
    assert len(english) == sum(1 for s in result["segments"] if s["language"] == "en")
    assert len(_visible(pg, "#lines tr.event")) == len(shots)  # the language leaves shots alone
    # each shot line says what else it sounded like: the AudioSet classes of its result.json event
    tops = {e["audioset_top3"] for e in result["events"] if e["is_gunshot"]}
    assert all("sounds like: " in r["text"] and r["text"].split("sounds like: ")[1].split("\n")[0] in tops
               for r in shots), shots
    # the shots counted beside a sure one (sporadic fire) carry the flag, and only they
    near = sorted(round(e["time_s"], 2) for e in result["events"] if e.get("near_gunfire"))
    assert near and sorted(round(r["start"], 2) for r in shots if "near gunfire" in r["text"]) == near
    pg.uncheck("#f-gunshot")
    pg.uncheck("#f-possible_gunshot")
    assert _visible(pg, "#lines tr.event") == []
    for box in pg.locator("#sound-filters input").all():
        box.uncheck()
    assert _visible(pg, "#lines tr.sound") == []
    pg.select_option("#f-language", "az")  # the reviewer's language: the corrected line only
    (corrected,) = _visible(pg)
    assert "A. Reviewer" in corrected["text"]
    pg.select_option("#f-language", "")
    pg.check("#f-reviewed")
    assert _visible(pg) == [corrected]
    pg.uncheck("#f-reviewed")
    pg.fill("#f-text", "country")
    found = _visible(pg)
    assert found and all("country" in r["text"].lower() for r in found)
    assert pg.inner_text("#count").startswith(f"{len(found)} of ")


def test_sound_events_have_a_line_a_lane_and_a_filter_per_label(opened):
    """Every sound event of result.json is a line (label, start-end, the AudioSet classes behind
    it); a label's box hides its lines; a click on one plays from its start."""
    pg, seen, page_path = opened
    result = json.loads((page_path.parent / "result.json").read_text())
    sounds = result["sounds"]
    assert sounds, "the scenario's fireworks are a sound event"
    lines = _visible(pg, "#lines tr.sound")
    assert sorted(r["start"] for r in lines) == pytest.approx(sorted(n["start_s"] for n in sounds), abs=1e-6)
    assert all(any(n["label"] in r["text"] and n["top_classes"] in r["text"] for n in sounds) for r in lines)
    labels = sorted({n["label"] for n in sounds})
    assert pg.eval_on_selector_all("#sound-filters input", "b => b.map(x => x.id)") == [f"f-sound-{x}" for x in labels]
    first = labels[0]
    pg.uncheck(f"#f-sound-{first}")
    assert len(_visible(pg, "#lines tr.sound")) == sum(n["label"] != first for n in sounds)
    pg.check(f"#f-sound-{first}")
    row = pg.locator("#lines tr.sound").first
    start = float(row.get_attribute("data-start"))
    row.click()
    assert start - 0.01 <= pg.evaluate("document.getElementById('audio').currentTime") < start + 1.0
    assert not seen["errors"] and not seen["console"], seen


def test_untrusted_text_shows_as_text_and_runs_nothing(opened):
    pg, seen, _ = opened
    assert pg.evaluate("window.__pwned") is None
    assert pg.locator("#injected").count() == 0 and pg.locator("img").count() == 0
    assert pg.inner_text("h1") == ODD_NAME
    assert INJECTED in pg.inner_text("#lines")
    assert not seen["errors"]


def test_the_case_page_lists_the_file_and_links_to_its_page(case, browser):
    pg = browser.new_page()
    pg.goto((case / "review.html").as_uri())
    assert pg.locator("img").count() == 0
    row = pg.locator("tbody tr").first
    assert ODD_NAME in row.inner_text() and "\tok\t" in row.inner_text()
    (result,) = [json.loads(p.read_text()) for p in case.glob("files/*/result.json")]
    labels = sorted({n["label"] for n in result["sounds"]})
    counts = ", ".join(f"{x} {sum(n['label'] == x for n in result['sounds'])}" for x in labels)
    assert labels and f"\t{counts}\t" in row.inner_text()  # the file's sound events, counted by label
    row.locator("a").click()
    pg.wait_for_selector("#lines tr")
    assert pg.inner_text("h1") == ODD_NAME
    pg.close()
    sums = (case / "SHA256SUMS").read_text()
    assert "review.html" in sums and re.search(r"files/\w{12}/audio\.t0\.webm", sums)


def test_a_file_with_two_audio_tracks_plays_and_lists_each_track_apart(browser, tmp_path):
    """A .mov with JFK on track 0 and a German voice note on track 1: the track picker swaps
    the listening copy and the lines."""
    from conftest import SPEECH, encode

    from audiopipe import batch as pl

    tracks = []
    for name in ("jfk_en.flac", "de_01.wav"):
        x, rate = read_audio(SPEECH / name)
        tracks.append((x[:, : x.shape[1] // 1024 * 1024], rate))
    ev = tmp_path / "evidence"
    ev.mkdir()
    encode(ev / "two tracks.mov", tracks, "aac", video=True)
    case = tmp_path / "case"
    pl.run(ev, case, FAST.replace("diarization", enabled=False), quiet=True)
    (page_path,) = case.glob("files/*/review.html")
    result = json.loads((page_path.parent / "result.json").read_text())
    pg = browser.new_page()
    pg.goto(page_path.as_uri())
    pg.wait_for_function("() => document.getElementById('audio').readyState >= 1", timeout=20000)
    assert pg.locator("#track-box").is_visible()
    langs = lambda: {r["text"].split("\t")[2].split()[0] for r in _visible(pg, "#lines tr.speech")}  # noqa: E731
    assert langs() == {"en"}
    pg.select_option("#f-track", "1")
    pg.wait_for_function("() => document.getElementById('audio').src.endsWith('audio.t1.webm')")
    pg.wait_for_function("() => document.getElementById('audio').readyState >= 1", timeout=20000)
    assert pg.evaluate("document.getElementById('audio').duration") == pytest.approx(
        result["tracks"][1]["duration_s"], abs=0.05)
    assert langs() == {"de"}
    assert len(_visible(pg, "#lines tr.speech")) == sum(1 for s in result["segments"] if s["track"] == 1)
    pg.close()
