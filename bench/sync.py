"""Sync against its targets (issue #32), beside ``audalign`` (PyPI) on the same files.

    .venv/bin/python bench/sync.py [--no-anchor] [--scale N ...]

Cases (built in bench/out/sync/, from real recordings, truth from how each was made):
* re-uploads of the scenario's audio: cuts at odd points, re-encoded (AAC 64 kb/s, Opus
  24 kb/s, 8-kHz mu-law, MP3), gain changes, noise; two copies whose clock runs 0.05 % and
  0.1 % slow;
* the ES2004 meeting: its room mix cut and re-encoded, and the four headset microphones cut
  each at another point (other devices in one room: one group with the re-uploads);
* unrelated: every other shared speech and meeting recording that is not a source of the
  scenario.
Printed: true pairs grouped (recall), false pairs, offset errors (copies of one recording,
and between microphones), drift errors, fingerprint speed (times realtime) and matching time;
then how matching time grows with the number of files (copies of the shared speech with
other cuts). The anchor, ``audalign`` 1.3.1 (fingerprints, then alignment), pins numpy 1.26
and runs in its own environment (bench/out/audalign-venv, made on first use from PyPI); it
aligns a folder as one set, so every file it places is counted as grouped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import encode, read_audio  # noqa: E402  (tests/conftest.py: containers with PyAV)

from audiopipe import ingest, sync  # noqa: E402
from audiopipe.config import IngestConfig, SyncConfig  # noqa: E402
from audiopipe.records import MediaFile  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
OUT = ROOT / "bench" / "out" / "sync"
ANCHOR_VENV = ROOT / "bench" / "out" / "audalign-venv"
SCENARIO_SOURCES = {"jfk_en.flac", "it_01.wav", "ru_lecture.wav", "de_01.wav"}
# (name, start_s, end_s, codec, rate_hz, gain_db, noise_dbfs, drift_ppm): a copy of a source
SCENARIO_COPIES = [("sc_orig.wav", 0.0, 40.0, "pcm_s16le", 44100, 0, None, 0),
                   ("sc_aac.m4a", 5.123, 31.7, "aac", 44100, -6, None, 0),
                   ("sc_opus.ogg", 11.05, 40.0, "libopus", 48000, 3, -40, 0),
                   ("sc_phone.wav", 2.5, 25.0, "pcm_mulaw", 8000, 0, None, 0),
                   ("sc_mp3.mp3", 17.3, 38.0, "libmp3lame", 44100, -3, -50, 0),
                   ("sc_drift500.wav", 0.7, 40.0, "pcm_s16le", 16000, 0, None, 500),
                   ("sc_drift1000.wav", 3.0, 35.0, "pcm_s16le", 16000, 0, None, 1000)]
MEETING_COPIES = [("es_room.wav", 0.0, 60.0, "pcm_s16le", 16000, 0, None, 0),
                  ("es_room_aac.m4a", 10.2, 55.0, "aac", 16000, -6, -45, 0),
                  ("es_room_phone.wav", 4.4, 60.0, "pcm_mulaw", 8000, 0, None, 0)]
HEADSETS = [("MEO015.wav", 0.0), ("FEE016.wav", 5.25), ("MEE014.wav", 11.7), ("FEE013.wav", 2.2)]


def _copy(path: Path, audio: np.ndarray, rate: int, start_s: float, end_s: float, codec: str, out_rate: int,
          gain_db: float, noise_dbfs: float | None, drift_ppm: float, rng: np.random.Generator) -> float:
    """Write one copy; returns where its 0 s falls on the source's clock."""
    x = audio.mean(axis=0)
    if drift_ppm:  # a clock that runs slow: the same sound takes longer
        x = librosa.resample(x, orig_sr=rate, target_sr=rate * (1 + drift_ppm * 1e-6), res_type="soxr_hq")
    a, b = int(start_s * rate), int(end_s * rate)
    x = x[a:b] * 10 ** (gain_db / 20)
    if noise_dbfs is not None:
        x = x + 10 ** (noise_dbfs / 20) * rng.standard_normal(x.size)
    x = librosa.resample(x, orig_sr=rate, target_sr=out_rate) if out_rate != rate else x
    encode(path, [(np.clip(x, -1, 1)[None, :].astype(np.float32), out_rate)], codec)
    return start_s / (1 + drift_ppm * 1e-6)


def build() -> tuple[dict[str, tuple[str, float]], list[Path]]:
    """The case files: name -> (truth group, where its 0 s falls on the group's clock); and the
    unrelated recordings (no group)."""
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261206)
    truth = {}
    audio, rate = read_audio(MEDIA / "scenario" / "scenario_reference.wav")
    for name, *spec in SCENARIO_COPIES:
        truth[name] = ("scenario", _copy(OUT / name, audio, rate, *spec, rng))
    audio, rate = read_audio(MEDIA / "diarization" / "ami_es2004_4spk.wav")
    for name, *spec in MEETING_COPIES:
        truth[name] = ("es2004", _copy(OUT / name, audio, rate, *spec, rng))
    for name, cut in HEADSETS:
        audio, rate = read_audio(MEDIA / "diarization" / "ami_es2004_sources" / name)
        truth[f"headset_{name}"] = ("es2004", _copy(OUT / f"headset_{name}", audio, rate, cut, 60.0, "pcm_s16le",
                                                   16000, 0, None, 0, rng))
    unrelated = [p for folder in ("speech", "speech/trust", "diarization")
                 for p in sorted((MEDIA / folder).iterdir())
                 if p.suffix in (".wav", ".flac", ".mp3") and p.name not in SCENARIO_SOURCES
                 and not p.name.startswith("ami_es2004") and p.name != "empty.wav"]
    return truth, unrelated


def audio16(path: Path) -> np.ndarray:
    _, tracks, _ = ingest.load(MediaFile(path.name, str(path), path.stat().st_size), IngestConfig())
    return tracks[0].audio_16k


def score(groups: dict[str, tuple[int, float]], truth: dict[str, tuple[str, float]], names: list[str]) -> dict:
    """groups: name -> (group, offset_s) for the files placed. Pairs over every file in ``names``."""
    found, false, errors = 0, [], {"same_recording": [], "other_device": []}
    true_pairs = 0
    for p, q in itertools.combinations(names, 2):
        tp, tq = truth.get(p), truth.get(q)
        same_truth = tp is not None and tq is not None and tp[0] == tq[0]
        gp, gq = groups.get(p), groups.get(q)
        grouped = gp is not None and gq is not None and gp[0] == gq[0]
        true_pairs += same_truth
        if same_truth and grouped:
            found += 1
            kind = "other_device" if "headset" in p or "headset" in q else "same_recording"
            errors[kind].append((abs((gq[1] - gp[1]) - (tq[1] - tp[1])), p, q))
        elif grouped and not same_truth:
            false.append((p, q))
    return {"true_pairs": true_pairs, "found": found, "false": false,
            "errors_ms": {k: (1000 * np.median([e for e, _, _ in v]), 1000 * max(v)[0], max(v)[1:]) if v else None
                          for k, v in errors.items()}}


def show(name: str, s: dict, seconds: float) -> None:
    e = s["errors_ms"]
    print(f"  {name:10s} recall {s['found']}/{s['true_pairs']} = {100 * s['found'] / max(1, s['true_pairs']):.0f} % "
          f"(target >= 98 %); false pairs {len(s['false'])} (target 0){': ' + str(s['false'][:3]) if s['false'] else ''}; "
          f"offset error median/max, copies {e['same_recording'][0]:.1f}/{e['same_recording'][1]:.1f} ms "
          f"(target <= 2; the worst {' and '.join(e['same_recording'][2])}), microphones "
          f"{e['other_device'][0]:.1f}/{e['other_device'][1]:.1f} ms (target <= 20); "
          f"{seconds:.1f} s" if e["same_recording"] and e["other_device"] else f"  {name}: {s}")


def ours(truth, unrelated) -> tuple[list[str], list[Path], list[np.ndarray]]:
    names = sorted(truth) + [p.name for p in unrelated]
    paths = [OUT / n for n in sorted(truth)] + unrelated
    audio = [audio16(p) for p in paths]
    t0 = time.perf_counter()
    prints = [sync.compute(a) for a in audio]
    fp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, rows = sync.match(prints, SyncConfig())
    match_s = time.perf_counter() - t0
    groups = {names[r.node]: (r.group, r.offset_s) for r in rows}
    relation_right = sum(r.relation == ("same_scene" if "headset" in names[r.node] or "headset" in names[r.matched_with]
                                        else "same_recording") for r in rows if names[r.node] in truth)
    total = sum(a.size for a in audio) / 16000
    print(f"1. {len(names)} files ({len(truth)} in 2 true groups, {len(unrelated)} unrelated), {total / 60:.1f} min of audio")
    print(f"  fingerprints {fp_s:.1f} s = {total / fp_s:.0f}x realtime (target >= 500x); matching {match_s:.2f} s")
    show("audiopipe", score(groups, truth, names), fp_s + match_s)
    print(f"  relation (same_recording between copies, same_scene with a headset): {relation_right}/"
          f"{sum(names[r.node] in truth for r in rows)} rows right")
    for name in ("sc_drift500.wav", "sc_drift1000.wav"):
        i, j = names.index("sc_orig.wav"), names.index(name)
        pairs, _ = sync.match([prints[i], prints[j]], SyncConfig())
        ppm = -int(name.split("drift")[1].split(".")[0])
        got = pairs[0].drift_ppm if pairs else None
        print(f"  drift, {name}: {got if got is None else round(got, 1)} ppm (truth {ppm}; target within 50)")
    return names, paths, audio


def anchor(truth, names: list[str], audio: list[np.ndarray]) -> None:
    python = ANCHOR_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANCHOR_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "audalign==1.3.1"], check=True)
    folder = OUT / "anchor-wav"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.wav"):
        old.unlink()
    for n, a in zip(names, audio):
        sf.write(folder / f"{n}.wav", a, 16000)
    code = ("import audalign as ad, json, sys, time; t = time.perf_counter(); "
            "r = ad.align(sys.argv[1], recognizer=ad.FingerprintRecognizer()); "
            "print(json.dumps({'seconds': time.perf_counter() - t, "
            "'shifts': {k: v for k, v in r.items() if isinstance(v, (int, float))}}))")
    done = subprocess.run([str(python), "-c", code, str(folder)], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    groups = {k[:-4]: (0, float(v)) for k, v in out["shifts"].items()}
    show("audalign", score(groups, truth, names), out["seconds"])


def scale(sizes: list[int]) -> None:
    """Matching time against the number of files: copies of the shared speech, other cuts."""
    sources = [p for folder in ("speech", "speech/trust", "diarization") for p in sorted((MEDIA / folder).iterdir())
               if p.suffix in (".wav", ".flac", ".mp3") and p.name != "empty.wav"]
    base = [audio16(p) for p in sources]
    rng = np.random.default_rng(7)
    prints, audio_s = [], 0.0
    t0 = time.perf_counter()
    for k in range(max(sizes)):
        a = base[k % len(base)]
        lo = int(rng.uniform(0, 0.3) * a.size)
        hi = lo + int(rng.uniform(0.5, 0.7) * a.size)
        prints.append(sync.compute(a[lo:hi]))
        audio_s += (hi - lo) / 16000
    fp_s = time.perf_counter() - t0
    print(f"\n2. scale: {max(sizes)} cuts of {len(base)} shared recordings ({audio_s / 3600:.1f} h), fingerprints "
          f"{fp_s:.0f} s = {audio_s / fp_s:.0f}x realtime")
    for n in sizes:
        t0 = time.perf_counter()
        pairs, rows = sync.match(prints[:n], SyncConfig())
        print(f"  {n:5d} files: matching {time.perf_counter() - t0:6.1f} s (target for 1,000: <= 60 s), "
              f"{len({r.group for r in rows})} groups")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-anchor", action="store_true", help="skip audalign")
    parser.add_argument("--scale", type=int, nargs="*", default=[100, 300, 1000])
    args = parser.parse_args()
    truth, unrelated = build()
    names, _, audio = ours(truth, unrelated)
    if not args.no_anchor:
        anchor(truth, names, audio)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
