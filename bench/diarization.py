"""Diarization stage: DER (pyannote.metrics, no collar, overlap scored) and real-time
factor on the real recordings with reference RTTM, beside a one-speaker baseline.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiopipe import config, diarize, ingest, models  # noqa: E402
from audiopipe.records import MediaFile  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media" / "diarization"
FILES = [("sample.wav", "sample"), ("dev00.wav", "dev00"), ("dev01.wav", "dev01"),
         ("three_speakers.wav", "three_speakers"), ("ami_es2004_4spk.wav", "ami_es2004_4spk")]


def load_refs() -> dict:
    from pyannote.database.util import load_rttm

    refs = load_rttm(MEDIA / "sample.rttm")
    for name in ("debug.development.rttm", "three_speakers.rttm", "ami_es2004_4spk.rttm"):
        refs.update(load_rttm(MEDIA / name))
    return refs


def der(reference, turns, uri: str) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    hyp = Annotation(uri=uri)
    for i, t in enumerate(turns):
        hyp[Segment(t.start_s, t.end_s), i] = t.speaker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "uem approximated": the whole file is scored
        return float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hyp))


def der_of(diarizer, name: str, uri: str, refs: dict) -> tuple[float, float, int, float]:
    """(DER, RTF, speakers found, one-speaker baseline DER) of one file."""
    from audiopipe.records import Turn

    _, (track,), _ = ingest.load(MediaFile(name, str(MEDIA / name), 1), config.IngestConfig())
    t0 = time.perf_counter()
    turns = diarizer(track)
    rtf = (time.perf_counter() - t0) / track.duration_s
    ref = refs[uri]
    extent = ref.get_timeline().extent()
    baseline = der(ref, [Turn(0, extent.start, extent.end, "ONE")], uri)
    return der(ref, turns, uri), rtf, len({t.speaker for t in turns}), baseline


def main() -> None:
    cfg = config.load("default").diarization
    diarizer = diarize.load(cfg, models.resolve(cfg.segmentation_model), models.resolve(cfg.embedding_model))
    refs = load_refs()
    print(f"clustering {cfg.clustering_method}, threshold {cfg.clustering_threshold}, "
          f"min cluster {cfg.min_cluster_size}, embedding batch {cfg.embedding_batch_size}")
    print("file                DER     one-speaker DER   speakers (ref)   RTF (wall/audio, 2 cores)")
    ami, rtfs = [], []
    diarizer(ingest.load(MediaFile("sample.wav", str(MEDIA / "sample.wav"), 1), config.IngestConfig())[1][0])  # warm
    for name, uri in FILES:
        d, rtf, n, base = der_of(diarizer, name, uri, refs)
        if uri in ("dev00", "dev01"):
            ami.append(d)
        rtfs.append(rtf)
        print(f"{name:19s} {d:.3f}   {base:.3f}             {n} ({len(refs[uri].labels())})"
              f"            {rtf:.2f}")
    print(f"AMI dev mean DER {sum(ami) / len(ami):.3f} (target <= 0.25); sample.wav <= 0.06; three_speakers <= 0.05; "
          f"ami_es2004_4spk <= 0.15; mean RTF {sum(rtfs) / len(rtfs):.2f} (target <= 0.15); "
          f"segmentation step {cfg.segmentation_step}")


if __name__ == "__main__":
    main()
