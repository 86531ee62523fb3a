"""A long file through the whole run (diarization and events; speech off unless asked):
wall time per stage, RTF, peak memory of the process, shots found.

The file: 48-kHz stereo WAV, the two AMI dev clips end to end (one minute of two-speaker
meeting), repeated, with a real three-round burst (gunshot_auto_burst_01.wav, mixed 6 dB
over the speech) at the start of every minute. Built in bench/out/long/, deterministic.

Usage: .venv/bin/python bench/long_file.py [--minutes 60] [--speech] [--previous-diarization]
Each run is its own process. Peak memory: the process's resident set (``ru_maxrss``, which
counts the pages of the memory-mapped native-rate track it has read), and its anonymous
memory (``RssAnon``, sampled every 0.2 s: what the process itself holds).
``--previous-diarization``: the diarization settings of before diarization v2 (windows every
1 s, threshold 0.85, minimum cluster 12, 2 s of clean speech per embedding, no speaker split).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiopipe import batch, config  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
OUT = ROOT / "bench" / "out" / "long"
RATE_HZ = 48000
SHOT_TOL_S = 0.025  # an event this close to a true onset is that shot (train/events.py)


def build(minutes: int) -> tuple[Path, list[float]]:
    """The long file (made once per length) and the true times of its shots (s): the burst's
    annotated onsets (train/clips.csv) from 1 s into every minute."""
    import librosa

    path = OUT / f"evidence-{minutes}min" / f"meeting_{minutes}min.wav"
    with open(ROOT / "train" / "clips.csv", newline="", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["file"] == "gunshot_auto_burst_01.wav")
    onsets = [float(t) for t in row["onsets_s"].split()]
    minute = np.concatenate([librosa.load(str(MEDIA / "diarization" / name), sr=RATE_HZ)[0]
                             for name in ("dev00.wav", "dev01.wav")]).astype(np.float32)
    minute_s = minute.size / RATE_HZ
    shots = [k * minute_s + 1.0 + t for k in range(minutes) for t in onsets]
    if path.exists():
        return path, shots
    burst, rate = sf.read(MEDIA / "events" / "gunshot_auto_burst_01.wav", dtype="float32", always_2d=True)
    burst = librosa.resample(burst.mean(axis=1), orig_sr=rate, target_sr=RATE_HZ)
    speech_rms = float(np.sqrt(np.mean(minute ** 2)))
    burst = burst / float(np.sqrt(np.mean(burst ** 2))) * speech_rms * 10 ** (6 / 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", RATE_HZ, 2, "PCM_16") as f:
        for _ in range(minutes):
            m = minute.copy()
            m[RATE_HZ: RATE_HZ + burst.size] += burst
            m = np.clip(m, -1.0, 1.0)
            f.write(np.stack([m, m], axis=1))
    return path, shots


PREVIOUS_DIARIZATION = dict(segmentation_step=0.1, clustering_threshold=0.85, min_cluster_size=12,
                            min_active_s=2.0, speaker_split_similarity=0.0)


class AnonPeak(threading.Thread):
    """The largest ``RssAnon`` of this process, sampled every 0.2 s until stopped (bytes)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_bytes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_bytes = max(self.peak_bytes, int(line.split()[1]) * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--speech", action="store_true", help="run the speech stage too")
    parser.add_argument("--previous-diarization", action="store_true", help="diarization settings before v2")
    args = parser.parse_args()
    path, shots = build(args.minutes)
    cfg = config.load("default").replace("speech", enabled=args.speech)
    if args.previous_diarization:
        cfg = cfg.replace("diarization", **PREVIOUS_DIARIZATION)
    case = OUT / f"case-{args.minutes}min{'-speech' if args.speech else ''}{'-prev' if args.previous_diarization else ''}"
    if case.exists():
        import shutil

        shutil.rmtree(case)
    anon = AnonPeak()
    anon.start()
    t0 = time.perf_counter()
    batch.run(path.parent, case, cfg, quiet=True)
    wall = time.perf_counter() - t0
    anon.done.set()
    anon.join()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux: kB
    (result,) = [json.loads(p.read_text()) for p in case.glob("files/*/result.json")]
    t = result["timings_s"]
    audio_s = result["tracks"][0]["duration_s"]
    called = [e["time_s"] for e in result["events"] if e["is_gunshot"]]
    found = sum(any(abs(c - t) <= SHOT_TOL_S for c in called) for t in shots)
    away = sum(not any(abs(c - t) <= SHOT_TOL_S for t in shots) for c in called)
    speakers = len({turn["speaker"] for turn in result["turns"]})
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in t.items() if k in ("decode", "events", "scene", "diarization", "speech"))
    print(f"{path.name}: {audio_s / 60:.0f} min of 48-kHz stereo, speech {'on' if args.speech else 'off'}, "
          f"diarization settings {'before v2' if args.previous_diarization else 'of audiopipe/configs/default.yaml'}")
    print(f"  wall {wall:.0f} s (RTF {wall / audio_s:.3f}); {stages}; diarization RTF {t['diarization'] / audio_s:.3f}")
    print(f"  peak memory {peak_gb:.2f} GB resident (models and the mapped native-rate track included), "
          f"{anon.peak_bytes / 1024 ** 3:.2f} GB anonymous")
    print(f"  shots found {found}/{len(shots)} (an is_gunshot event within {SHOT_TOL_S * 1000:.0f} ms of a true onset), "
          f"{away} gunshot-like events away from every true shot; speakers {speakers} "
          f"(the meeting has 2; each minute repeats it)")


if __name__ == "__main__":
    main()
