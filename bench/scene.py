"""The sound-scene stage against its targets (issue #31), beside the untrained anchor.

    .venv/bin/python bench/scene.py [--only clips|speed] [--ab]

1. Clips (``train/scene.py``'s set: shared/media/scene, events, events/more, and every speech
   and meeting recording; each padded with 2 s of quiet, and every sound also mixed into real
   speech at 0 and +6 dB): per label, file-level recall and false tags over the clips of
   the other labels and the speech recordings, held out (each source recording tagged with the
   cuts chosen without it) and with the shipped cuts (in sample); fireworks called fireworks,
   not explosion; where the events start against where the sound starts (2 s into the
   padded clip). The anchor: the untrained group score (a label's highest class score on any
   frame) over 0.3, no rule, no smoothing.
2. Speed: the stage alone on the hour-long bench file (``bench/long_file.py``'s, decoded first)
   as times realtime, and its share of the whole run on the speech bench's files
   (``bench/speech.py``), from the run's own timings; ``--ab`` also runs that bench with the
   stage off, and prints both wall times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import long_file  # noqa: E402

from audiopipe import ingest, models, scene  # noqa: E402
from audiopipe.config import IngestConfig, SceneConfig  # noqa: E402
from audiopipe.models import audioset  # noqa: E402
from audiopipe.records import MediaFile, SoundEvent  # noqa: E402
from audiopipe.scene import stage  # noqa: E402


def _calibration():
    """train/scene.py (this file has its name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_scene", ROOT / "train" / "scene.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


calibration = _calibration()

ANCHOR_CUT = 0.3
TARGETS = ("targets: recall >= 80 % for a label of 3 clips or more; false tags <= 3 % of the other clips and "
           "the speech (shouting on speech not counted); fireworks tagged fireworks, not explosion, in 2 of 3; "
           "start within 0.5 s of the sound's")


def anchor(h, labels, net) -> list[SoundEvent]:
    """The untrained tags of a clip: each label whose group score passes ``ANCHOR_CUT`` on a frame."""
    curve = stage.curves(h.scores, labels, stage.columns(labels, net), net, raw=True)
    out = []
    for k, lab in enumerate(labels):
        on = np.flatnonzero(curve[:, k] >= ANCHOR_CUT)
        if on.size:
            out.append(SoundEvent(0, float(h.starts[on[0]]), float(h.starts[on[-1]] + audioset.FRAME_S), lab.name,
                                  float(curve[on, k].max()), "", ""))
    return out


def starts(figures: dict) -> str:
    errs = [e for name, f in figures.items() if not name.startswith("_") for e in f["start_errors_s"]]
    return (f"events starting within 0.5 s of their sound: {sum(e <= 0.5 for e in errs)}/{len(errs)} found "
            f"(median error {np.median(errs):.2f} s)" if errs else "no event found")


def clips() -> None:
    cfg = SceneConfig()
    labels = scene.load()
    net = audioset.network(models.resolve(cfg.audioset))
    heard = calibration.hear_all(calibration.clips(), labels, net, cfg)
    print(f"1. clips: {len(heard)} ({sum(bool(h.clip.bed) for h in heard)} under speech), "
          f"{len({h.clip.group for h in heard})} recordings\n   {TARGETS}")
    held = calibration.out_of_fold(heard, labels, net, cfg)
    shipped = [calibration.tags(h, labels, net, cfg) for h in heard]
    untrained = [anchor(h, labels, net) for h in heard]
    for mixed in (False, True):
        keep = [i for i, h in enumerate(heard) if bool(h.clip.bed) == mixed or (mixed and h.clip.label == calibration.SPEECH)]
        subset = [heard[i] for i in keep]
        what = "under speech (0 and +6 dB) with the speech recordings" if mixed else "as recorded"
        for name, found in (("held out", held), ("shipped cuts (in sample)", shipped), ("anchor (untrained, 0.3)", untrained)):
            figures = calibration.evaluate(subset, [found[i] for i in keep], labels)
            print(f"\n  {what}, {name}:\n    " + "\n    ".join(calibration.table(figures)) + f"\n    {starts(figures)}")


def speed(ab: bool) -> None:
    cfg = SceneConfig()
    labels = scene.load()
    net = audioset.network(models.resolve(cfg.audioset))
    path, _ = long_file.build(60)
    t0 = time.perf_counter()
    _, tracks, _ = ingest.load(MediaFile(path.name, str(path), path.stat().st_size), IngestConfig())
    decode_s = time.perf_counter() - t0
    track = tracks[0]
    peak = long_file.AnonPeak()
    peak.start()
    t0 = time.perf_counter()
    found = scene.detect(track, cfg, net, labels)
    took = time.perf_counter() - t0
    peak.done.set()
    peak.join()
    print(f"\n2. speed. {path.name} ({track.duration_s / 60:.0f} min, decoded in {decode_s:.0f} s): the scene stage "
          f"{took:.1f} s = {track.duration_s / took:.0f}x realtime (target >= 100x), {len(found)} sound events "
          f"({', '.join(sorted({n.label for n in found})) or 'none'}); peak anonymous memory {peak.peak_bytes / 1e9:.2f} GB "
          f"(the decoded track held)")
    import speech as speech_bench  # bench/speech.py

    bcfg = speech_bench.bench_config("cpu")
    evidence = speech_bench.OUT / "evidence"
    speech_bench.build(evidence)
    runs = {"on": bcfg}
    if ab:
        runs["off"] = bcfg.replace("scene", enabled=False)
    walls = {}
    for name, c in runs.items():
        t0 = time.perf_counter()
        results = speech_bench.run_case(evidence, speech_bench.OUT / f"case-scene-{name}", c)
        walls[name] = time.perf_counter() - t0
        if name == "on":
            total = sum(r["timings_s"]["total"] for r in results.values())
            own = sum(r["timings_s"].get("scene", 0.0) for r in results.values())
            audio = sum(r["tracks"][0]["duration_s"] for r in results.values())
            print(f"   speech bench ({len(results)} files, {audio:.0f} s of audio): the scene stage {own:.1f} s of the "
                  f"files' {total:.1f} s = {100 * own / (total - own):.1f} % more than without it (target <= 10 %)")
    if ab:
        print(f"   wall time of the whole run, same machine, one after the other: scene on {walls['on']:.0f} s, "
              f"off {walls['off']:.0f} s ({100 * (walls['on'] / walls['off'] - 1):+.1f} %; run-to-run drift on this "
              f"machine is a few %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["clips", "speed"])
    parser.add_argument("--ab", action="store_true", help="also run the speech bench with the stage off")
    args = parser.parse_args()
    if args.only in (None, "clips"):
        clips()
    if args.only in (None, "speed"):
        speed(args.ab)


if __name__ == "__main__":
    main()
