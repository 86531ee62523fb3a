"""Choose the cut of every sound-scene label on the shared real clips, grouped by source recording.

    python train/scene.py [--out audiopipe/configs/scene_thresholds.yaml]   (make train-scene)

Clips (``clips()``): ``shared/media/scene`` (explosions, aircraft, sirens, screams, vehicles, a
crowd, dogs, look-alikes: the label is the file name's first part), ``events`` and
``events/more`` (gunshots -> ``gunfire``, fireworks, glass, other look-alikes -> none;
``train/clips.csv`` gives their source recordings), and every recording of ``speech`` and
``diarization`` (no label: they must stay free of tags, but ``shouting`` where people shout).
Each clip is heard as the bench hears it: 2 s of faint quiet before and after
(``padded``), and, every clip that is not speech, also 2 s into real speech (the AMI and
pyannote meetings of ``BEDS``) at its level and 6 dB over it (``mixed_track``): a phone hears
a siren or a blast over people talking, and the network's scores fall under speech; then the scene stage's frames (``stage.hear``) and curves (``stage.curves``), and the
events stage's gunshots (which an explosion that begins at one yields to, as in a run). A clip's
score for a label is its curve's highest frame.

The cut (``choose``), for each hold the score may be asked to keep (``HOLDS_S``): halfway between the highest score among the clips that must not carry the
label (a rival's clip scored where it outscores the rival), after the few that ``BUDGET`` lets
through (2 % of them, against a target of 3 %; none of the speech recordings), and
the lowest score above it among the label's own clips; with none above, 0.1 over it. The hold
kept is the one whose cut finds the most of the label's clips (a blast's rumble holds, a
slam's does not). The clips of a label more specific than it do not count against it (an aircraft clip's
vehicle score). Out of fold: the cuts are chosen without the held-out
recording's clips, the whole stage (``stage.events_of``, the rules included) runs on them,
and the figures printed are of those held-out tags (``evaluate``). The cuts written are
chosen on every clip. Deterministic: the same clips give the same file.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _mixtures import mixed_over  # noqa: E402  (bench/_mixtures.py: a sound over a recording)

from audiopipe import events, ingest, models, scene  # noqa: E402
from audiopipe.config import EventsConfig, IngestConfig, SceneConfig  # noqa: E402
from audiopipe.models import audioset  # noqa: E402
from audiopipe.records import MediaFile, Track  # noqa: E402
from audiopipe.scene import stage  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
OUT = ROOT / "audiopipe" / "configs" / "scene_thresholds.yaml"
PAD_S = 2.0
BUDGET = 0.02  # the share of the other clips a label may tag (the target is 3 %: the rest a margin)
MARGIN = 0.1
HOLDS_S = (0.0, 0.48, 0.96)
SMOOTHS = (3, 1)  # running medians a label's scores may be smoothed with (the most smoothing first)  # how long a score may be asked to hold above the cut  # over the highest other clip, for a label none of whose clips scores above it
FLOOR = 0.1
EVENTS_LABEL = {"gunshot": "gunfire", "fireworks": "fireworks", "glass_breaking": "glass"}
SPEECH = "(speech)"
BEDS = ["diarization/dev00.wav", "diarization/dev01.wav", "diarization/sample.wav", "diarization/three_speakers.wav"]
SNRS_DB = (0.0, 6.0)  # a sound mixed into speech at its level, and 6 dB over it


@dataclass
class Clip:
    path: str  # under shared/media
    label: str | None  # the scene label it must carry; None: none (speech is SPEECH)
    group: str  # source recording
    bed: str | None = None  # a recording of speech it is mixed into (under shared/media)
    snr_db: float = 0.0  # its level over the speech's, where mixed


def _scene_groups() -> dict[str, str]:
    """scene/README.md: file -> its Freesound original (clips of one original share a group)."""
    out = {}
    for line in (MEDIA / "scene" / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[1].endswith(".wav"):
            m = re.search(r"Freesound (\d+)", cells[6])
            out[cells[1]] = f"fs{m.group(1)}" if m else cells[1]
    return out


def clips(mixed: bool = True) -> list[Clip]:
    """The clips; mixed: and every clip that is not speech also under speech (``BEDS``, ``SNRS_DB``)."""
    labels = {lab.name for lab in scene.load(thresholds=None)}
    out = []
    groups = _scene_groups()
    for p in sorted((MEDIA / "scene").glob("*.wav")):
        kind = p.name.split("__")[0]
        out.append(Clip(f"scene/{p.name}", kind if kind in labels else None, groups.get(p.name, p.name)))
    with open(ROOT / "train" / "clips.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["file"].startswith("../"):
                continue  # the scene look-alikes, listed above
            label = EVENTS_LABEL.get(r["label"]) or EVENTS_LABEL.get(r["kind"])
            out.append(Clip(f"events/{r['file']}", label, r["group"]))
    for folder in ("speech", "speech/trust", "diarization"):
        for p in sorted((MEDIA / folder).iterdir()):
            if p.suffix in (".wav", ".mp3", ".flac"):
                out.append(Clip(f"{folder}/{p.name}", SPEECH, f"{folder}/{p.stem}"))
    sounds = [c for c in out if c.label != SPEECH]
    return out + ([dataclasses.replace(c, bed=BEDS[(i + k) % len(BEDS)], snr_db=snr)
                   for i, c in enumerate(sounds) for k, snr in enumerate(SNRS_DB)] if mixed else [])


def _track(path: Path):
    media = MediaFile(path.name, str(path), path.stat().st_size)
    return ingest.load(media, IngestConfig())[1][0]


def mixed_track(c: Clip, seconds: float = PAD_S) -> Track:
    """A clip ``seconds`` into a stretch of real speech, ``c.snr_db`` over it, at 16 kHz."""
    sound = _track(MEDIA / c.path).audio_16k
    n = int(seconds * audioset.RATE_HZ)
    bed = mixed_over(np.resize(_track(MEDIA / c.bed).audio_16k, sound.size + 2 * n), sound, seconds, c.snr_db)
    mix = (bed / max(1.0, np.abs(bed).max() / 0.95)).astype(np.float32)
    return Track(0, 0, "pcm", audioset.RATE_HZ, 1, mix.size / audioset.RATE_HZ, mix, mix[None, :])


def padded(path: Path, seconds: float = PAD_S) -> Track:
    """A clip's first track between ``seconds`` of faint quiet (the quiet a frame is padded with
    beyond a track), at 16 kHz and at its own rate."""
    t = _track(path)

    def pad(x: np.ndarray, rate: int) -> np.ndarray:
        n = int(seconds * rate)
        out = np.resize(audioset.QUIET_BEFORE, x.shape[:-1] + (x.shape[-1] + 2 * n,)).astype(np.float32)
        out[..., n: n + x.shape[-1]] = x
        return out

    return dataclasses.replace(t, audio_16k=pad(t.audio_16k, audioset.RATE_HZ),
                               audio_native=pad(t.audio_native, t.native_rate_hz), duration_s=t.duration_s + 2 * seconds)


@dataclass
class Heard:
    clip: Clip
    audio: np.ndarray
    starts: np.ndarray
    scores: np.ndarray
    shots_s: list[float]  # the events stage's gunshots, as the pipeline gives them to the scene stage


def hear_all(cs: list[Clip], labels, net, cfg: SceneConfig) -> list[Heard]:
    cols = stage.columns(labels, net)
    ecfg = EventsConfig()
    gun = events.classifier(models.resolve(ecfg.classifier))
    out = []
    for c in cs:
        track = mixed_track(c) if c.bed else padded(MEDIA / c.path)
        starts, scores = stage.hear(track.audio_16k, net, cols, cfg.hop_s, cfg.silence_dbfs)
        shots = [e.time_s for e in events.detect(track, ecfg, gun, net=net)[0] if e.category == "gunshot"]
        out.append(Heard(c, track.audio_16k, starts, scores, shots))
    return out


def may_carry(label, truth: str | None, labels) -> bool:
    """Whether a clip of ``truth`` may carry ``label`` by the labels' rules (itself, or the clip
    of a label more specific than it)."""
    other = next((lab for lab in labels if lab.name == truth), None)
    return truth == label.name or (other is not None and label.name in other.over)


def winning(curve: np.ndarray, labels) -> np.ndarray:
    """The curves where each label outscores its rivals (elsewhere 0): what a clip can be
    tagged with once the rivals have competed for its frames (``stage.resolve``)."""
    index = {lab.name: k for k, lab in enumerate(labels)}
    out = curve.copy()
    for k, lab in enumerate(labels):
        for other in lab.rivals + tuple(x.name for x in labels if lab.name in x.rivals):
            out[curve[:, index[other]] > curve[:, k], k] = 0.0
    return out


def choose(heard: list[Heard], labels, net, cfg: SceneConfig) -> dict[str, tuple[float, float, int]]:
    """Per label, (cut, hold_s, smooth_frames): for each smoothing in ``SMOOTHS`` and hold in
    ``HOLDS_S``, the cut of the budget rule on the clips' smoothed, held scores
    (``stage.smooth``, ``stage.held``); the pair whose cut finds the most of the label's own
    clips (of equals, the most smoothing, then the shortest hold)."""
    cols = stage.columns(labels, net)
    raw = [stage.curves(h.scores, labels, cols, net, raw=True) for h in heard]
    smoothed = {n: [winning(np.stack([stage.smooth(c[:, j], n) for j in range(c.shape[1])], axis=1), labels)
                    for c in raw] for n in SMOOTHS}
    out = {}
    for k, lab in enumerate(labels):
        own = np.array([h.clip.label == lab.name for h in heard])
        others = np.array([not may_carry(lab, h.clip.label, labels) for h in heard])
        speech = np.array([h.clip.label == SPEECH for h in heard])
        best = None
        for n, hold in ((n, hold) for n in SMOOTHS for hold in HOLDS_S):
            peaks = np.array([stage.held(c[:, k], hold, cfg.hop_s).max(initial=0.0) for c in smoothed[n]])
            spend = int(BUDGET * others.sum())  # the look-alikes the budget lets above the cut
            top = float(np.sort(peaks[others])[::-1][spend]) if others.sum() > spend else 0.0
            top = max(top, float(peaks[speech].max(initial=0.0)))  # no budget on speech: it stays free of tags
            above = peaks[own & (peaks > top)]
            cut = round(float(np.clip((top + float(above.min())) / 2 if above.size else top + MARGIN, FLOOR, 0.99)), 3)
            found = int((peaks[own] >= cut).sum())
            if best is None or found > best[0]:
                best = (found, cut, hold, n)
        out[lab.name] = best[1:]
    return out


def with_cuts(labels, cuts: dict[str, tuple[float, float, int]]):
    return [dataclasses.replace(lab, threshold=cuts[lab.name][0], hold_s=cuts[lab.name][1],
                                smooth_frames=cuts[lab.name][2], calibrated=True) for lab in labels]


def tags(h: Heard, labels, net, cfg: SceneConfig):
    cols = stage.columns(labels, net)
    return stage.events_of(h.audio, 0, h.starts, h.scores, cols, labels, net, cfg, h.shots_s)


def evaluate(heard: list[Heard], found: list[list], labels) -> dict:
    """Per label: clips, recall, false tags over the other clips (``shouting`` on speech not
    counted), start errors; and fireworks clips called fireworks, not explosion."""
    out = {}
    for lab in labels:
        own = [(h, f) for h, f in zip(heard, found) if h.clip.label == lab.name]
        hits = [min((abs(e.start_s - PAD_S) for e in f if e.label == lab.name), default=None) for h, f in own]
        others = [(h, f) for h, f in zip(heard, found) if h.clip.label != lab.name
                  and not (lab.name == "shouting" and h.clip.label == SPEECH)]
        false = [h.clip.path for h, f in others if any(e.label == lab.name for e in f)]
        out[lab.name] = {"clips": len(own), "groups": len({h.clip.group for h, _ in own}),
                         "found": sum(x is not None for x in hits), "others": len(others), "false": false,
                         "start_errors_s": [round(x, 3) for x in hits if x is not None]}
    fw = [f for h, f in zip(heard, found) if h.clip.label == "fireworks"]
    out["_fireworks"] = {"clips": len(fw), "as_fireworks_not_explosion": sum(
        any(e.label == "fireworks" for e in f) and not any(e.label == "explosion" for e in f) for f in fw)}
    return out


def out_of_fold(heard: list[Heard], labels, net, cfg: SceneConfig) -> list[list]:
    """Each recording's tags with the cuts chosen on the others (leave one recording out)."""
    found: list[list] = [[] for _ in heard]
    for g in sorted({h.clip.group for h in heard}):
        rest = [h for h in heard if h.clip.group != g]
        labs = with_cuts(labels, choose(rest, labels, net, cfg))
        for i, h in enumerate(heard):
            if h.clip.group == g:
                found[i] = tags(h, labs, net, cfg)
    return found


def table(figures: dict) -> list[str]:
    lines = [f"{'label':10s} {'clips':>5s} {'groups':>6s} {'recall':>9s} {'false tags':>14s}  start error (s)"]
    for name, f in figures.items():
        if name.startswith("_"):
            continue
        rec = f"{f['found']}/{f['clips']}" if f["clips"] else "-"
        err = max(f["start_errors_s"], default=None)
        lines.append(f"{name:10s} {f['clips']:5d} {f['groups']:6d} {rec:>9s} {len(f['false']):>5d}/{f['others']:<4d}"
                     f" {100 * len(f['false']) / max(1, f['others']):4.1f}%  "
                     + (f"max {err:.2f}" if err is not None else "-")
                     + (f"  false: {', '.join(Path(p).name for p in f['false'][:4])}" if f["false"] else ""))
    fw = figures["_fireworks"]
    lines.append(f"fireworks clips tagged fireworks, not explosion: {fw['as_fireworks_not_explosion']}/{fw['clips']}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    cfg = SceneConfig()
    labels = scene.load(thresholds=None)
    net = audioset.network(models.resolve(cfg.audioset))
    cs = clips()
    heard = hear_all(cs, labels, net, cfg)
    print(f"{len(cs)} clips ({sum(bool(c.bed) for c in cs)} of them under speech), "
          f"{len({c.group for c in cs})} recordings")
    found = out_of_fold(heard, labels, net, cfg)
    clean = [i for i, h in enumerate(heard) if not h.clip.bed]
    oof = table(evaluate([heard[i] for i in clean], [found[i] for i in clean], labels))
    mixed = [i for i, h in enumerate(heard) if h.clip.bed or h.clip.label == SPEECH]
    oof_mixed = table(evaluate([heard[i] for i in mixed], [found[i] for i in mixed], labels))
    print("held out (cuts chosen on the other recordings), clips as recorded:\n  " + "\n  ".join(oof))
    print(f"held out, clips under speech ({', '.join(f'{x:+.0f} dB' for x in SNRS_DB)}) and the speech:\n  "
          + "\n  ".join(oof_mixed))
    cuts = choose(heard, labels, net, cfg)
    header = ["# The cut of each sound-scene label (its smoothed AudioSet group score), chosen by train/scene.py",
              "# on the shared clips (make train-scene); do not edit by hand. Figures of the cuts chosen",
              "# without each held-out recording, clips as recorded:"] + [f"#   {line}" for line in oof] + [
              "# and under speech:"] + [f"#   {line}" for line in oof_mixed]
    text = "\n".join(header) + "\n" + "".join(
        f"{key}:\n" + "".join(f"  {k}: {v[i]}\n" for k, v in cuts.items())
        for i, key in enumerate(("thresholds", "hold_s", "smooth_frames")))
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: " + ", ".join(f"{k} {c} (hold {h} s, median {n})" for k, (c, h, n) in cuts.items()))


if __name__ == "__main__":
    main()
