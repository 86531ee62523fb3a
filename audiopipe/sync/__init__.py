"""One incident, many recordings: which files hear the same moments, and where each sits on a
common clock. Per track a fingerprint (``fingerprint.compute``) made while the file is
analysed and kept beside its result (``save``/``load``: ``sync.npz``); across the case, the
matching (``matching.match``) after every run, new files against old ones included (``run``).
Records: ``SyncRow`` (the Sync sheet's rows, in ``sync.json`` of the case)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SyncConfig
from .fingerprint import Fingerprint, compute
from .matching import SyncPair, SyncRow, match

__all__ = ["Fingerprint", "SyncPair", "SyncRow", "compute", "load", "match", "run", "save", "to_bytes"]

NAME = "sync.npz"
CASE_NAME = "sync.json"
log = logging.getLogger("audiopipe")


def to_bytes(prints: list[Fingerprint]) -> bytes:
    """The fingerprints of a file's tracks as the bytes of ``sync.npz``."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"t{i}_{k}": v for i, p in enumerate(prints) for k, v in (
        ("hashes", p.hashes), ("times", p.times), ("envelope", p.envelope), ("duration_s", np.array(p.duration_s)),
        ("start_s", np.array(p.start_s)), ("level", p.level if p.level is not None else np.zeros(0, np.float16)))})
    return buf.getvalue()


def load(path: Path) -> list[Fingerprint]:
    with np.load(path) as z:
        n = len({k.split("_", 1)[0] for k in z.files})
        return [Fingerprint(z[f"t{i}_hashes"], z[f"t{i}_times"], z[f"t{i}_envelope"], float(z[f"t{i}_duration_s"]),
                            float(z[f"t{i}_start_s"]), z[f"t{i}_level"] if f"t{i}_level" in z.files else None)
                for i in range(n)]


def save(folder: Path, prints: list[Fingerprint], write) -> None:
    """``folder/sync.npz`` through ``write`` (an atomic writer of bytes)."""
    write(folder / NAME, to_bytes(prints))


def run(case_dir: Path, inputs: list[dict[str, Any]], cfg: SyncConfig) -> list[dict[str, Any]]:
    """The groups of the case's analysed files (every ``sync.npz`` in their result folders, old
    and new): one row per grouped track, as the Sync sheet shows it; ``offset_s`` is where the
    file's 0 s falls on the group's clock (a track that begins after its file does is matched
    in its own time, then moved)."""
    nodes, prints, seen = [], [], set()
    for row in inputs:
        folder = row.get("result_folder")
        if not folder or folder in seen or row.get("status") != "ok":
            continue
        seen.add(folder)
        path = case_dir / folder / NAME
        if not path.is_file():
            continue
        for track, p in enumerate(load(path)):
            nodes.append((row, track))
            prints.append(p)
    _, rows = match(prints, cfg)
    out = []
    for r in rows:
        row, track = nodes[r.node]
        other, other_track = nodes[r.matched_with]
        out.append({"group": r.group, "file": row["path"], "sha256": row["sha256"], "track": track,
                    "offset_s": round(r.offset_s - prints[r.node].start_s, 4), "drift_ppm": r.drift_ppm, "overlap_s": r.overlap_s,
                    "relation": r.relation, "confidence": r.confidence,
                    "matched_with": other["path"] + (f" (track {other_track})" if other_track else ""),
                    "landmarks_agreeing": r.votes})
    log.info(f"sync: {len(prints)} track(s) fingerprinted, {len({r['group'] for r in out})} group(s) of "
             f"recordings that hear the same moments")
    return out


def write_case(case_dir: Path, rows: list[dict[str, Any]], write_text) -> None:
    write_text(case_dir / CASE_NAME, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def read_case(case_dir: Path) -> list[dict[str, Any]]:
    path = case_dir / CASE_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
