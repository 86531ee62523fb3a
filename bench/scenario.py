"""End to end on the yardstick video (shared/media/scenario): what audiopipe gets right
against truth.json, beside plain faster-whisper (base, beam 5, its VAD on) on the same file.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiopipe import batch, config, ingest, models  # noqa: E402
from audiopipe.records import MediaFile  # noqa: E402

SCENARIO = ROOT.parent / "shared" / "media" / "scenario"
TOL_S = 0.05


def main() -> None:
    truth = json.loads((SCENARIO / "truth.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        ev = Path(tmp) / "evidence"
        ev.mkdir()
        shutil.copy(SCENARIO / "scenario.mp4", ev)
        t0 = time.perf_counter()
        batch.run(ev, Path(tmp) / "case", config.load("default"), quiet=True)
        wall = time.perf_counter() - t0
        (res,) = [json.loads(p.read_text()) for p in (Path(tmp) / "case").glob("files/*/result.json")]
    print(f"audiopipe run: {wall:.1f} s wall for 40 s of video ({res['timings_s']})")
    print("speech part (truth)        language  audiopipe  text")
    for part in truth["speech"]:
        inside = [s for s in res["segments"] if s["start_s"] < part["end_s"] and s["end_s"] > part["start_s"]]
        langs = ",".join(sorted({s["language"] for s in inside})) or "-"
        text = " ".join(s["text"] for s in inside)[:70]
        print(f"{part['start_s']:5.1f}-{part['end_s']:5.1f} {part['source']:15s} {part['language']:8s}  {langs:9s}  {text}")
    shots = [e["time_s"] for e in res["events"] if e["is_gunshot"]]
    hit = [t for t in truth["shots"] if any(abs(t - s) <= TOL_S for s in shots)]
    false = [s for s in shots if not any(abs(t - s) <= TOL_S for t in truth["shots"])]
    on_confusers = [s for s in false if any(-0.1 <= s - c["time_s"] <= 2.1 for c in truth["confusers"])]
    print(f"shots: {len(hit)}/{len(truth['shots'])} found within {TOL_S * 1000:.0f} ms; {len(false)} false "
          f"({len(on_confusers)} on look-alikes, {len(false) - len(on_confusers)} elsewhere)")
    auto = sorted((b for b in res["bursts"] if b["fire_mode"] == "automatic"), key=lambda b: b["start_s"])
    if auto:
        rates = ", ".join(f"{b['rate_rpm']:.0f}" for b in auto)
        print(f"automatic fire: {len(auto)} bursts, first at {auto[0]['start_s']:.3f} s (truth 20.000), "
              f"rates {rates} rounds/min")
    flagged = [s for s in res["segments"] if "during_gunfire" in s["flags"]]
    print(f"segments flagged during_gunfire: {len(flagged)}")
    # the sound scene: the truth names the look-alikes (fireworks, door knock, door slam), the shots and the speech
    sounds = "; ".join(f"{n['label']} {n['start_s']:.2f}-{n['end_s']:.2f} s ({n['score']:.2f})" for n in res.get("sounds", []))
    print(f"sound events: {sounds or 'none'} (truth: fireworks at "
          + ", ".join(f"{c['time_s']:.1f}" for c in truth["confusers"] if "fireworks" in c["source"])
          + " s; single shots at 29.0-31.5 s; automatic fire 20.0-26.2 s)")

    cfg = config.load("default")
    from faster_whisper import WhisperModel

    model = WhisperModel(models.resolve(cfg.speech.model).path, device="cpu", compute_type="int8")
    p = SCENARIO / "scenario.mp4"
    _, tracks, _ = ingest.load(MediaFile(p.name, str(p), p.stat().st_size), cfg.ingest)
    for vad in (True, False):
        segs, info = model.transcribe(tracks[0].audio_16k, beam_size=5, vad_filter=vad)
        segs = list(segs)
        print(f"plain faster-whisper (vad_filter={vad}): one language for the file: {info.language} "
              f"({info.language_probability:.2f}); {len(segs)} segments; first: "
              f"{(segs[0].text.strip()[:60] if segs else '-')}")


if __name__ == "__main__":
    main()
