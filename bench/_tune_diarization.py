"""Grid over the diarization hyper-parameters on the two AMI dev clips (DER, no collar,
overlap scored). Not part of `make bench` (the underscore): run it by hand to retune, then
put the winner in configs/default.yaml.

Usage: .venv/bin/python bench/_tune_diarization.py
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from diarization import FILES, der_of, load_refs  # noqa: E402

from audiopipe import config, diarize, models  # noqa: E402

GRID = {
    "clustering_threshold": [0.6, 0.7, 0.8, 0.9],
    "clustering_method": ["centroid", "average"],
    "min_cluster_size": [5, 12],
}


def main() -> None:
    refs = load_refs()
    base = config.load("default")
    seg, emb = models.resolve(base.diarization.segmentation_model), models.resolve(base.diarization.embedding_model)
    ami = [f for f in FILES if f[1] != "sample"]
    for values in itertools.product(*GRID.values()):
        changes = dict(zip(GRID, values))
        cfg = base.replace("diarization", **changes).diarization
        t0 = time.perf_counter()
        ders = [der_of(diarize.load(cfg, seg, emb), name, uri, refs)[0] for name, uri in ami]
        print(f"{changes}  AMI mean DER {sum(ders) / len(ders):.3f}  ({', '.join(f'{d:.3f}' for d in ders)})"
              f"  {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
