"""Diarization stage: DER (pyannote.metrics, no collar, overlap scored), speakers found and
real-time factor, on the shared clips with reference RTTM (beside a one-speaker baseline) and
on the built conversations of ``_conversations.py`` (2-6 speakers, some heard once for 1-4 s,
with and without overlap, 30 s and 10 min), per file and per bucket.

Last part: speech beside loud sounds that are not speech (real explosions, aircraft and bursts
of fire mixed 14 dB over real speech), diarized as heard and with the events and scene stages'
stretches turned down (``diarize.loud``): the share of the speech found on the clean recording
that is found again, beside the sound and under it.

Usage: .venv/bin/python bench/diarization.py [--short-only] [--loud-only]
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _conversations  # noqa: E402
from _mixtures import mixed_over  # noqa: E402

from audiopipe import config, diarize, ingest, models  # noqa: E402
from audiopipe.records import MediaFile  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "diarization"
BUILT = ROOT / "bench" / "out" / "conversations"
FILES = [("sample.wav", "sample"), ("dev00.wav", "dev00"), ("dev01.wav", "dev01"),
         ("three_speakers.wav", "three_speakers"), ("ami_es2004_4spk.wav", "ami_es2004_4spk")]


@dataclass
class DevFile:
    uri: str
    path: Path
    reference: object  # pyannote.core.Annotation
    duration_s: float
    spec: _conversations.Spec | None = None  # None: a shared clip


def load_refs() -> dict:
    from pyannote.database.util import load_rttm

    refs = load_rttm(MEDIA / "sample.rttm")
    for name in ("debug.development.rttm", "three_speakers.rttm", "ami_es2004_4spk.rttm"):
        refs.update(load_rttm(MEDIA / name))
    return refs


def dev_files() -> list[DevFile]:
    """The shared clips and the built conversations (built here when missing)."""
    import soundfile as sf
    from pyannote.database.util import load_rttm

    refs = load_refs()
    out = [DevFile(uri, MEDIA / name, refs[uri], sf.info(str(MEDIA / name)).duration) for name, uri in FILES]
    for spec in _conversations.build(BUILT):
        wav = BUILT / f"{spec.name}.wav"
        out.append(DevFile(spec.name, wav, load_rttm(BUILT / f"{spec.name}.rttm")[spec.name],
                           sf.info(str(wav)).duration, spec))
    return out


def load_track(path: Path):
    _, (track,), _ = ingest.load(MediaFile(path.name, str(path), 1), config.IngestConfig())
    return track


def der(reference, turns, uri: str) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    hyp = Annotation(uri=uri)
    for i, t in enumerate(turns):
        hyp[Segment(t.start_s, t.end_s), i] = t.speaker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "uem approximated": the whole file is scored
        return float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hyp))


def score_file(diarizer, f: DevFile) -> tuple[float, float, int, float]:
    """(DER, RTF, speakers found, one-speaker baseline DER) of one file."""
    from audiopipe.records import Turn

    track = load_track(f.path)
    t0 = time.perf_counter()
    turns = diarizer(track)
    rtf = (time.perf_counter() - t0) / track.duration_s
    extent = f.reference.get_timeline().extent()
    baseline = der(f.reference, [Turn(0, extent.start, extent.end, "ONE")], f.uri)
    return der(f.reference, turns, f.uri), rtf, len({t.speaker for t in turns}), baseline


def _bucket_line(label: str, rows: list) -> str:
    n = len(rows)
    exact = sum(r[2] == r[3] for r in rows)
    mean_der = sum(r[0] for r in rows) / n
    return f"  {label:34s} files {n:2d}   DER {mean_der:.3f}   speaker count exact {exact}/{n}"


SPEECH = ROOT.parent / "shared" / "media" / "speech"
LOUD = [("scene", f"explosion__{n}.wav") for n in ("antum_explosion_01", "antum_explosion_02", "antum_explosion_distant_01",
                                                   "antum_explosion_distant_03", "cdda_explosion_default_1",
                                                   "cdda_explosion_huge_1")] + [
    ("scene", "aircraft__antum_helicopter.wav"), ("scene", "aircraft__antum_jet_flyby.wav"),
    ("events", "gunshot_auto_burst_01.wav"), ("events", "gunshot_auto_burst_02.wav"),
    ("events", "gunshot_shotgun_single_pump_01.wav")]
BEDS = ["jfk_en.flac", "es_01.wav", "ru_lecture.wav"]  # ru_lecture: its first 20 s
LOUD_OVER_DB = 14.0


def beside_loud_sounds(diarizer) -> None:
    """Each sound of ``LOUD`` 14 dB over each speech bed (its loud stretches' RMS over the
    talk's) at 40 % of the bed; the speech found by diarization on the clean bed is the truth.
    Printed: the share of it found again with the mix diarized as it is and with the stretches
    of the events and scene stages turned down, beside the sound (outside its stretch,
    within the 10-s windows that hold it) and under it; and the speech found where the clean
    recording has none (the sound taken for speech), within 10 s of the sound."""
    import numpy as np

    from audiopipe import events, scene
    from audiopipe.config import EventsConfig, SceneConfig
    from audiopipe.diarize import loud
    from audiopipe.models import audioset
    from audiopipe.records import Track

    dcfg, ecfg, scfg = config.load("default").diarization, EventsConfig(), SceneConfig()
    net = audioset.network(models.resolve(ecfg.audioset))
    gun, labels = events.classifier(models.resolve(ecfg.classifier)), scene.load()

    def track(x):
        x = np.asarray(x, np.float32)
        return Track(0, 0, "pcm", 16000, 1, x.size / 16000, x, x[None, :])

    def mask(spans_s, n):
        m = np.zeros(n, bool)
        for a, b in spans_s:
            m[max(0, int(a * 100)): max(0, int(b * 100))] = True
        return m

    tally = {f"{where} {what}": [0, 0] for what in ("as is", "turned down") for where in ("beside", "under", "false")}
    print(f"\nspeech beside loud sounds ({len(LOUD)} real sounds x {len(BEDS)} speech recordings, "
          f"{LOUD_OVER_DB:+.0f} dB over the talk): speech of the clean recording found again")
    for bed_name in BEDS:
        bed = load_track(SPEECH / bed_name).audio_16k[: 20 * 16000].astype(np.float64)
        truth = mask([(u.start_s, u.end_s) for u in diarizer(track(bed))], int(bed.size / 160))
        for folder, name in LOUD:
            sound = load_track(ROOT.parent / "shared" / "media" / folder / name).audio_16k.astype(np.float64)
            at = int(0.4 * bed.size)
            sound = sound[: bed.size - at]
            x = mixed_over(bed, sound, at / 16000, LOUD_OVER_DB)
            t = track(x / np.abs(x).max() * 0.95)
            shots = [e.time_s for e in events.detect(t, ecfg, gun, net=net)[0] if e.is_gunshot]
            sounds = [(n.start_s, n.end_s) for n in scene.detect(t, scfg, net, labels, [])
                      if n.label in dcfg.turn_down_sounds]
            spans = loud.spans_s(shots, sounds)
            start_s, end_s = at / 16000, (at + sound.size) / 16000
            stretch, near = mask([(start_s, end_s)], truth.size), mask([(start_s - 10, end_s + 10)], truth.size)
            row = []
            for what, spans_used in (("as is", []), ("turned down", spans)):
                found = mask([(u.start_s, u.end_s) for u in diarizer(t, loud_spans_s=spans_used)], truth.size)
                for where, m in (("beside", truth & near & ~stretch), ("under", truth & stretch)):
                    tally[f"{where} {what}"][0] += int((found & m).sum())
                    tally[f"{where} {what}"][1] += int(m.sum())
                    row.append(f"{where} {what} {(found & m).sum() / max(1, m.sum()):.2f}")
                false = found & near & ~truth  # speech found where the clean recording has none: the sound itself
                tally[f"false {what}"][0] += int(false.sum())
                tally[f"false {what}"][1] += int((near & ~truth).sum())
                row.append(f"false {false.sum() / 100:.1f} s")
            print(f"  {bed_name:14s} {name:42s} stretches {len(spans):2d}  " + "  ".join(row), flush=True)
    print("  all (false: the share of the time without speech in the clean recording that is found as speech):")
    for what in ("as is", "turned down"):
        print(f"    {what:12s} " + "   ".join(f"{where} {tally[f'{where} {what}'][0] / max(1, tally[f'{where} {what}'][1]):.1%}"
                                             for where in ("beside", "under", "false")))


def main() -> None:
    short_only = "--short-only" in sys.argv
    cfg = config.load("default").diarization
    diarizer = diarize.load(cfg, models.resolve(cfg.segmentation_model), models.resolve(cfg.embedding_model))
    if "--loud-only" in sys.argv:
        return beside_loud_sounds(diarizer)
    print(f"clustering {cfg.clustering_method}, threshold {cfg.clustering_threshold}, min cluster "
          f"{cfg.min_cluster_size}, min active {cfg.min_active_s} s, segmentation step {cfg.segmentation_step}")
    diarizer(load_track(MEDIA / "sample.wav"))  # warm
    files = [f for f in dev_files() if not (short_only and f.duration_s > 120)]
    print("file                              DER     one-speaker DER   speakers (ref)   RTF (wall/audio, 2 cores)")
    shared, built, audio_s, wall_s = [], [], 0.0, 0.0
    for f in files:
        d, rtf, n, base = score_file(diarizer, f)
        true_n = len(f.reference.labels())
        audio_s += f.duration_s
        wall_s += rtf * f.duration_s
        (shared if f.spec is None else built).append((d, rtf, n, true_n, f))
        print(f"{f.uri:33s} {d:.3f}   {base:.3f}             {n} ({true_n})            {rtf:.2f}", flush=True)
    ami = [r[0] for r in shared if r[4].uri in ("dev00", "dev01")]
    by = {r[4].uri: r for r in shared}
    print("shared clips: " + ", ".join(f"{u} {by[u][0]:.3f}" for u in by)
          + (f"; AMI dev mean {sum(ami) / len(ami):.3f}" if ami else ""))
    print("  targets: sample <= 0.06, AMI dev mean <= 0.25, three_speakers <= 0.05, ami_es2004_4spk <= 0.15")
    if built:
        print("built conversations (targets: speaker count exact in >= 80 % of files, DER <= 0.20):")
        print(_bucket_line("all", built))
        for n_spk in sorted({r[4].spec.speakers for r in built}):
            print(_bucket_line(f"{n_spk} speakers", [r for r in built if r[4].spec.speakers == n_spk]))
        print(_bucket_line("with a speaker heard once (1-4 s)", [r for r in built if r[4].spec.brief]))
        print(_bucket_line("every speaker heard several times", [r for r in built if not r[4].spec.brief]))
        print(_bucket_line("with overlap", [r for r in built if r[4].spec.overlap]))
        print(_bucket_line("without overlap", [r for r in built if not r[4].spec.overlap]))
        print(_bucket_line("30 s", [r for r in built if r[4].spec.duration_s < 120]))
        long_rows = [r for r in built if r[4].spec.duration_s >= 120]
        if long_rows:
            print(_bucket_line("10 min", long_rows))
    print(f"stage RTF over all {len(files)} files: {wall_s / audio_s:.3f} (target <= 0.15); "
          f"mean of the shared clips {sum(r[1] for r in shared) / len(shared):.3f}")
    beside_loud_sounds(diarizer)


if __name__ == "__main__":
    main()
