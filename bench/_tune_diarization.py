"""Choose the diarization settings by cross-validation over the built conversations
(``_conversations.py``) and the shared clips, never on one clip. Not part of `make bench`
(the underscore): run it by hand to retune, then put the winner in configs/default.yaml.

Per segmentation step, each file is segmented and embedded once (pyannote keeps both in the
file's dict in training mode; the re-segmentation's window embeddings are kept by turn
bounds), then every clustering setting of the grid is scored on it: DER (no collar, overlap
scored) and the speaker count. Files are dealt into five folds; in each fold the setting with
the best score on the other four folds is scored on the fold itself. Score = mean DER + 0.05 x
mean |speakers found - true|.

Usage: .venv/bin/python bench/_tune_diarization.py [--steps 0.1,0.25] [--short-only] [--grid 'KEY=V1,V2;...']
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from diarization import dev_files, der, load_track  # noqa: E402

from audiopipe import config, diarize, models  # noqa: E402
from audiopipe.diarize import clustering, resegment  # noqa: E402

GRID = {
    "clustering_threshold": [0.65, 0.7, 0.75, 0.8, 0.85, 0.9],
    "min_cluster_size": [3, 12],
    "min_active_s": [0.5, 1.0, 2.0],
    "speaker_split_similarity": [0.3],
}
# a smaller grid for one question at a time: --grid 'speaker_split_similarity=0.3,0.4;clustering_threshold=0.9'


def parse_grid(text: str) -> dict:
    grid = {}
    for part in filter(None, text.split(";")):
        key, values = part.split("=")
        grid[key] = [float(v) if "." in v else int(v) for v in values.split(",")]
    return grid
FOLDS = 5
COUNT_WEIGHT = 0.05


def score(rows: list[tuple[float, int, int]]) -> float:
    return float(np.mean([d for d, _, _ in rows]) + COUNT_WEIGHT * np.mean([abs(n - t) for _, n, t in rows]))


def memoised(reseg: resegment.Resegmenter, audio_16k) -> None:
    """Keep the re-segmentation's embeddings by turn bounds across settings."""
    windows = functools.partial(resegment.Resegmenter.windows, reseg)
    embed = functools.partial(resegment.Resegmenter.embed, reseg)

    @functools.lru_cache(maxsize=None)
    def by_bounds(start_s, end_s, track, speaker, source):
        from audiopipe.records import Turn
        return windows(audio_16k, Turn(track, start_s, end_s, speaker, source))

    reseg.windows = lambda audio, t: by_bounds(t.start_s, t.end_s, t.track, "", t.source)
    cache: dict = {}

    def embed_memo(audio):
        key = (audio.size, float(audio[: 64].sum()), float(audio[-64:].sum()))
        if key not in cache:
            cache[key] = embed(audio)
        return cache[key]

    reseg.embed = embed_memo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", default="0.1,0.25")
    ap.add_argument("--short-only", action="store_true")
    ap.add_argument("--grid", help="KEY=V1,V2;KEY=V (the other keys at the shipped default)")
    args = ap.parse_args()
    global GRID
    if args.grid:
        GRID = parse_grid(args.grid)
    base = config.load("default")
    seg, emb = models.resolve(base.diarization.segmentation_model), models.resolve(base.diarization.embedding_model)
    files = [f for f in dev_files() if not (args.short_only and f.duration_s > 120)]
    settings = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())]
    results: dict[tuple, dict[str, tuple[float, int, int]]] = {}
    for step in (float(s) for s in args.steps.split(",")):
        cfg0 = base.replace("diarization", segmentation_step=step).diarization
        diarizer = diarize.load(cfg0, seg, emb)
        diarizer.pipeline.training = True  # keep segmentation and embeddings in the file dict
        for f in files:
            track = load_track(f.path)
            import torch
            file = {"waveform": torch.from_numpy(track.audio_16k)[None], "sample_rate": 16000, "uri": f.uri}
            reseg = resegment.Resegmenter(cfg0, diarizer.resegmenter.embedding)
            memoised(reseg, track.audio_16k)
            t0 = time.perf_counter()
            for s in settings:
                diarizer.cfg = reseg.cfg = base.replace("diarization", segmentation_step=step, **s).diarization
                clustering.configure(diarizer.pipeline, diarizer.cfg)
                turns = reseg(track.audio_16k, diarizer._run(track.audio_16k, 0, file=file))
                results[(step, *s.values())] = results.get((step, *s.values()), {})
                results[(step, *s.values())][f.uri] = (der(f.reference, turns, f.uri), len({t.speaker for t in turns}),
                                                       len(f.reference.labels()))
            print(f"step {step}: {f.uri} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    import pickle
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "tune_diarization.pkl").write_bytes(pickle.dumps((list(GRID), results)))
    uris = [f.uri for f in files]
    folds = [uris[i::FOLDS] for i in range(FOLDS)]
    print("per fold: the setting chosen on the other folds, and its score on the fold")
    held = []
    for k, fold in enumerate(folds):
        train = [u for u in uris if u not in fold]
        best = min(results, key=lambda key: score([results[key][u] for u in train]))
        rows = [results[best][u] for u in fold]
        held += rows
        print(f"fold {k}: {dict(zip(('step', *GRID), best))}  train {score([results[best][u] for u in train]):.3f}"
              f"  held-out DER {np.mean([r[0] for r in rows]):.3f}, count exact {sum(r[1] == r[2] for r in rows)}/{len(rows)}")
    print(f"cross-validated: DER {np.mean([r[0] for r in held]):.3f}, count exact "
          f"{sum(r[1] == r[2] for r in held)}/{len(held)}")
    ranked = sorted(results, key=lambda key: score(list(results[key].values())))
    print("best on all files:")
    for key in ranked[:8]:
        rows = list(results[key].values())
        print(f"  {dict(zip(('step', *GRID), key))}  score {score(rows):.3f}  DER {np.mean([r[0] for r in rows]):.3f}"
              f"  count exact {sum(r[1] == r[2] for r in rows)}/{len(rows)}")
    default = (base.diarization.segmentation_step, *(getattr(base.diarization, k) for k in GRID))
    if default in results:
        rows = list(results[default].values())
        print(f"shipped default {default}: score {score(rows):.3f}  DER {np.mean([r[0] for r in rows]):.3f}"
              f"  count exact {sum(r[1] == r[2] for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
