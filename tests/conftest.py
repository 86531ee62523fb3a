"""Shared fixtures: the real recordings in ../shared/media and containers made from them."""

from __future__ import annotations

import json
import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
SPEECH = MEDIA / "speech"
EVENTS = MEDIA / "events"
SCENARIO = MEDIA / "scenario"

sys.path.insert(0, str(REPO / "bench"))
from _mixtures import mixed_over  # noqa: E402,F401  (a real sound over a real recording, as the benches mix them)


#: set by .ci/run: a test that would be skipped (a tool missing: LibreOffice, Chromium, Ray, root)
#: fails instead, so that a green CI means every test ran
STRICT = os.environ.get("AUDIOPIPE_STRICT") == "1"


def pytest_collection_modifyitems(config, items):
    if not MEDIA.is_dir():
        pytest.exit(f"the shared recordings are missing: {MEDIA}", returncode=4)


def _strict(report) -> None:
    """Under AUDIOPIPE_STRICT=1 a skip (not an expected failure) is a failure, and says why."""
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under AUDIOPIPE_STRICT=1 (every test must run in CI): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    _strict((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    _strict((yield).get_result())  # a module skipped whole (importorskip)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Reference decode with soundfile: shape = (n_channels, n_samples) float32."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.T.copy(), sr


def read_mono16(path: Path) -> np.ndarray:
    """A recording mixed to mono and resampled to 16 kHz (float32), as the models hear it."""
    import librosa

    audio, rate = read_audio(path)
    return librosa.resample(audio.mean(axis=0), orig_sr=rate, target_sr=16000).astype(np.float32)


LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}  # channel count -> the layout encode() writes


def encode(path: Path, tracks: list[tuple[np.ndarray, int]], codec: str, video: bool = False,
           fmt: str | None = None, audio_start_s: float = 0.0) -> Path:
    """Write a container with one audio stream per (audio (channels, samples), rate) and
    optionally a small video stream from 0 s, using PyAV; the audio streams begin
    ``audio_start_s`` into the file.

    Each source is cut to whole encoder frames, so that its duration is exactly defined
    (an encoder pads a last partial frame, and not every container records the padding).
    """
    with av.open(str(path), "w", format=fmt) as out:
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        streams = []
        for audio, rate in tracks:
            s = out.add_stream(codec, rate=rate, layout=LAYOUTS[audio.shape[0]])
            streams.append(s)
        for (audio, rate), s in zip(tracks, streams):
            if not s.codec_context.is_open:
                s.codec_context.open()
            frame_size = s.codec_context.frame_size or 1024
            audio = audio[:, : audio.shape[1] // frame_size * frame_size]
            pts = int(round(audio_start_s * rate))
            for i in range(0, audio.shape[1], frame_size):
                chunk = audio[:, i:i + frame_size]
                # packed samples (PyAV reads one plane too many of a planar 8-channel frame)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T, np.float32).reshape(1, -1),
                                                   format="flt", layout=LAYOUTS[audio.shape[0]])
                frame.sample_rate = rate
                frame.pts = pts
                frame.time_base = Fraction(1, rate)
                pts += chunk.shape[1]
                for packet in s.encode(frame):
                    out.mux(packet)
            for packet in s.encode(None):
                out.mux(packet)
        if vstream is not None:
            dur = audio_start_s + max(a.shape[1] / r for a, r in tracks) if tracks else 2.0
            for i in range(int(dur * 10)):
                img = np.full((48, 64, 3), (i * 7) % 255, np.uint8)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                for packet in vstream.encode(vf):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


@pytest.fixture(scope="session")
def scenario_truth() -> dict:
    return json.loads((SCENARIO / "truth.json").read_text())


#: where the shipped events stage still errs on the scenario (README, "Known limits"; issue #30's
#: note): the true shots it does not count, and the look-alikes it counts. The tests assert exactly
#: these: one more error fails them, and so does one of these fixed (then the lists shrink).
#: (none since sporadic fire: the single shots at 30.105 and 31.505 s over wind, 0.38-0.40 on their own, are
#: counted beside the sure shot at 29.005 s)
SCENARIO_MISSED_SHOTS_S: tuple[float, ...] = ()
SCENARIO_CALLED_LOOKALIKES_S = (10.5, 38.6)  # the fireworks (gunshot, 0.59) and the door slam (possible, 0.51-0.54)


@pytest.fixture(scope="session")
def scenario_case(tmp_path_factory) -> Path:
    """The scenario video through ``audiopipe run``'s default config, once per session: its case folder."""
    from audiopipe import batch, config

    ev = tmp_path_factory.mktemp("scenario-evidence")
    shutil.copy(SCENARIO / "scenario.mp4", ev)
    case = tmp_path_factory.mktemp("scenario-case")
    summary = batch.run(ev, case, config.load("default"), quiet=True)
    assert summary.errors == 0
    return case


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright for Python (the review pages' tests)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed (make test installs it with the test extra)")
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (make test-deps installs it as root)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()
