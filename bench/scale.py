"""Scale-out on Ray: the same evidence folder (20 copies, with different bytes, of real clips)
run locally and on a Ray cluster of two worker nodes on this machine's loopback, as a user runs
them (``audiopipe run``, the whole command timed); the outputs compared; then the Ray run again
with one worker killed (SIGKILL) mid-file; and Ray's own overhead: one worker with all the
cores, the local layout, on a cluster that ``--ray`` starts here.

A file's scores depend in their last digits on the number of threads its models ran with
(``threads`` in result.json). The workers here have one CPU each, so the identity check is
against a local run on one thread. The timing anchor is the faster of the two local layouts
(all cores on one file, or one thread), and every Ray row counts the start of its cluster.

Usage: python bench/scale.py [--device cpu|cuda] [--copies N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = [MEDIA / "speech" / n for n in ("de_01.wav", "it_01.wav", "es_01.wav", "jfk_en.flac")] + [
    MEDIA / "events" / "gunshot_auto_burst_01.wav"]
AUDIOPIPE = Path(sys.executable).with_name("audiopipe")


def evidence(folder: Path, copies: int) -> float:
    """``copies`` WAV files, each a clip with its own length of trailing quiet (different bytes,
    the same speech); returns the seconds of audio."""
    total = 0.0
    for i in range(copies):
        x, rate = sf.read(CLIPS[i % len(CLIPS)], dtype="float32", always_2d=True)
        x = np.concatenate([x, np.zeros((int(rate * (0.05 + 0.01 * i)), x.shape[1]), np.float32)])
        sf.write(folder / f"copy_{i:02d}_{CLIPS[i % len(CLIPS)].stem}.wav", x, rate, subtype="PCM_16")
        total += x.shape[0] / rate
    return total


def run(ev: Path, case: Path, *extra: str, kill_one: bool = False) -> tuple[float, str, int]:
    """Wall seconds of ``audiopipe run``, its log, the pid it killed (0: none)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(AUDIOPIPE), "run", str(ev), "--out", str(case), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killed = 0
    while kill_one and proc.poll() is None and not killed:
        busy = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit() and _title(d).startswith(
            b"ray::Worker.analyse")]
        if busy:
            time.sleep(1.0)
            os.kill(min(busy), signal.SIGKILL)
            killed = min(busy)
        time.sleep(0.05)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"audiopipe run {' '.join(extra)} failed ({proc.returncode}):\n{out[-3000:]}")
    return time.perf_counter() - t0, out, killed


def _title(d: Path) -> bytes:
    try:
        return (d / "cmdline").read_bytes()
    except OSError:
        return b""


def results(case: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(case.glob("files/*/result.json")):
        r = json.loads(p.read_text())
        for k in ("timings_s", "resume_key"):  # resume_key: speech.cpu_threads is in the config hash
            r.pop(k)
        out[p.parent.name] = r
    return out


def differences(a, b) -> int:
    """How many leaf values differ between two results."""
    if isinstance(a, dict) and isinstance(b, dict):
        return sum(differences(a[k], b.get(k)) for k in a) + len(set(b) - set(a))
    if isinstance(a, list) and isinstance(b, list):
        return sum(differences(x, y) for x, y in zip(a, b)) + abs(len(a) - len(b))
    return int(a != b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a cluster on loopback stays on loopback
    from ray.cluster_utils import Cluster

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        ev = work / "evidence"
        ev.mkdir()
        audio_s = evidence(ev, args.copies)
        dev = ["--device", args.device]
        print(f"{args.copies} files, {audio_s:.0f} s of audio; this machine: {os.cpu_count()} CPU(s); "
              f"device {args.device}")

        wall_local, _, _ = run(ev, work / "local", *dev)
        print(f"local, {os.cpu_count()} threads on one file at a time: {wall_local:.1f} s wall "
              f"({audio_s / wall_local:.2f} x realtime)")
        wall_one, _, _ = run(ev, work / "local-1", "--config", str(_one_thread(work)), *dev)
        print(f"local, 1 thread (the identity reference): {wall_one:.1f} s wall ({audio_s / wall_one:.2f} x realtime)")
        anchor = min(wall_local, wall_one)
        print(f"anchor: the faster local layout, {anchor:.1f} s")

        wall_same, _, _ = run(ev, work / "ray-same", "--ray", "--workers", "1", "--cpus-per-worker",
                              str(os.cpu_count()), *dev)
        print(f"Ray, a cluster started by the run on this machine (its start inside the timer), 1 worker of "
              f"{os.cpu_count()} CPUs: {wall_same:.1f} s wall; Ray / local {os.cpu_count()} threads = "
              f"{wall_same / wall_local:.3f} (Ray's own overhead {100 * (wall_same / wall_local - 1):+.1f} %); "
              f"/ anchor = {wall_same / anchor:.3f}")
        gpus = 1 if args.device == "cuda" else 0
        t0 = time.perf_counter()
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1",
                                                           "include_dashboard": False})
        for _ in range(2):
            c.add_node(num_cpus=1, num_gpus=gpus / 2, node_ip_address="127.0.0.1",
                       object_store_memory=300 * 2**20)
        start_s = time.perf_counter() - t0
        try:
            ray_args = ["--ray", c.address, "--cpus-per-worker", "1", "--gpus-per-worker", str(gpus / 2), *dev]
            wall_ray, out, _ = run(ev, work / "ray", *ray_args)
            nodes = {line.rsplit(", ", 1)[1].rstrip(")") for line in out.splitlines() if "] ok: " in line}
            total = start_s + wall_ray
            print(f"Ray, 2 worker nodes of 1 CPU on loopback: cluster start {start_s:.1f} s + run {wall_ray:.1f} s "
                  f"= {total:.1f} s ({audio_s / total:.2f} x realtime; {len(nodes)} workers took files); "
                  f"Ray / anchor = {total / anchor:.3f} ({anchor / total:.2f}x the faster local layout)")
            wall_kill, out, pid = run(ev, work / "ray-killed", *ray_args, kill_one=True)
            done = sum(1 for line in out.splitlines() if "] ok: " in line)
            print(f"Ray with worker pid {pid} killed mid-file: cluster start {start_s:.1f} s + run {wall_kill:.1f} s "
                  f"= {start_s + wall_kill:.1f} s, {done}/{args.copies} files finished, "
                  f"{len(list((work / 'ray-killed').glob('files/*/result.json')))} result folders")
        finally:
            c.shutdown()

        ray_r, one_r, local_r, killed_r, same_r = (results(work / n) for n in ("ray", "local-1", "local",
                                                                                "ray-killed", "ray-same"))
        print(f"result.json (less timings) identical, Ray vs local at 1 thread: {ray_r == one_r} "
              f"({sum(differences(one_r[k], ray_r.get(k)) for k in one_r)} values differ); "
              f"killed run vs local at 1 thread: {killed_r == one_r}")
        print(f"result.json (less timings) identical, Ray 1 worker of {os.cpu_count()} CPUs vs local: "
              f"{same_r == local_r}")
        print(f"  values that differ, local {os.cpu_count()} threads vs 1 thread: "
              f"{sum(differences(local_r[k], one_r.get(k)) for k in local_r)} (thread count, not executor)")
        for table in ("segments.csv", "events.csv", "words.csv", "speakers.csv", "bursts.csv", "timeline.csv"):
            same = (work / "ray" / table).read_bytes() == (work / "local-1" / table).read_bytes()
            print(f"  {table}: {'same' if same else 'DIFFERENT'}")
        for name in ("ray", "ray-killed"):
            ok = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=work / name).returncode == 0
            print(f"  {name}: SHA256SUMS verifies: {ok}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _one_thread(work: Path) -> Path:
    path = work / "one-thread.yaml"
    path.write_text("speech:\n  cpu_threads: 1\n")
    return path


if __name__ == "__main__":
    main()
