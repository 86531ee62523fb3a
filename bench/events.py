"""Events stage: precision, recall and F1 (onset within +-20 ms), onset error, shot-count
error per burst, and false events on look-alikes and on speech-only audio.

Material: the real clips in shared/media/events (clean, after 0.5 s of faint noise), the
same clips mixed into real non-English speech at SNR +10, 0 and -10 dB with and without
reverberation (bench/_mixtures.py), and the speech-only recordings.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _mixtures as mx  # noqa: E402

from audiopipe import events  # noqa: E402
from audiopipe.config import EventsConfig  # noqa: E402
from audiopipe.records import Track  # noqa: E402

TOL_S = 0.020
CFG = EventsConfig()


def detect(audio: np.ndarray):
    t = Track(0, 0, "pcm", mx.RATE_HZ, audio.shape[0], audio.shape[1] / mx.RATE_HZ, np.zeros(1, np.float32), audio)
    return events.detect(t, CFG)


def score(material: list[mx.Mixture]) -> dict:
    """Precision/recall/F1 on the gunshot mixtures (false events there: speech, echoes,
    pump clacks), the look-alike clips apart (how many flagged, how many false events), and
    the F1 with the look-alikes' false events counted too."""
    tp = fp = fn = conf_fp = 0
    errors_ms, count_err, confuser_hits, confuser_total, confuser_s = [], [], 0, 0, 0.0
    for m in material:
        evs, bursts = detect(m.audio)
        shots = [e.time_s for e in evs if e.is_gunshot]
        if not m.shots_s:
            confuser_total += 1
            confuser_s += m.audio.shape[1] / mx.RATE_HZ
            confuser_hits += bool(shots)
            conf_fp += len(shots)
            continue
        matched = set()
        for t in m.shots_s:
            best = min(shots, key=lambda s: abs(s - t), default=None)
            if best is not None and abs(best - t) <= TOL_S and best not in matched:
                matched.add(best)
                tp += 1
                errors_ms.append(abs(best - t) * 1000)
            else:
                fn += 1
        fp += len(shots) - len(matched)
        count_err.append(abs(len(shots) - len(m.shots_s)))

    def f1(p: float, r: float) -> float:
        return 2 * p * r / max(1e-9, p + r)

    p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
    p_all = tp / max(1, tp + fp + conf_fp)
    return {"precision": p, "recall": r, "f1": f1(p, r), "f1_with_lookalikes": f1(p_all, r),
            "onset_err_ms_median": float(np.median(errors_ms)) if errors_ms else float("nan"),
            "count_err_mean": float(np.mean(count_err)) if count_err else float("nan"),
            "confusers": f"{confuser_hits}/{confuser_total} clips, {conf_fp} events "
                         f"({conf_fp / max(confuser_s, 1e-9) * 3600:.0f}/h)"}


#: Speech beds: the 16-kHz recordings have nothing above 8 kHz, where a shot still has energy
#: and speech little; the wide-band ones (44.1 kHz, and 24 kHz) keep their sibilants up there.
BEDS = {"narrow-band": ["es_01.wav", "it_01.wav", "de_01.wav"],
        "wide-band": ["ar_01.wav", "hotwords_en.mp3", "multilingual_en_de.mp3"]}


def materials() -> list[tuple[str, list[mx.Mixture]]]:
    # silent bed: each clip alone at -20 dBFS RMS over -60 dBFS noise
    out = [("clean clips", mx.mixtures([], [4.0], seed=1, with_reverb=False))]
    for seed, snr in enumerate([10.0, 0.0, -10.0]):
        for band, names in BEDS.items():
            out.append((f"{band} speech, SNR {snr:+3.0f} dB", mx.mixtures(names, [snr], seed=2 + seed)))
    return out


def main() -> None:
    t0 = time.perf_counter()
    print("gunshot mixtures: precision, recall, F1 (false events: speech, echoes, clacks); F1 counting the")
    print("look-alikes' false events too; look-alike clips with a gunshot event, and their false events")
    print("set                               precision recall  F1     F1+lookalikes  onset_err_ms  count_err  look-alikes flagged")
    for name, material in materials():
        s = score(material)
        print(f"{name:33s} {s['precision']:.3f}     {s['recall']:.3f}  {s['f1']:.3f}  {s['f1_with_lookalikes']:.3f}"
              f"          {s['onset_err_ms_median']:8.1f}      {s['count_err_mean']:.2f}       {s['confusers']}")
    total_s, false, where = 0.0, 0, []
    for m in mx.speech_only(["jfk_en.flac", "multilingual_en_de.mp3", "ru_lecture.wav", "es_01.wav", "de_01.wav",
                             "it_01.wav", "ar_01.wav", "hotwords_en.mp3"]):
        evs, _ = detect(m.audio)
        n = sum(e.is_gunshot for e in evs)
        false += n
        where += [f"{m.name} {n}"] if n else []
        total_s += m.audio.shape[1] / mx.RATE_HZ
    print(f"speech-only: {false} false gunshot events in {total_s:.0f} s = {false / total_s * 600:.1f} per 10 min, {false / total_s * 3600:.0f} per hour "
          f"(target <= 1){': ' + ', '.join(where) if where else ''}")
    print(f"bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
