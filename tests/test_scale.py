"""Scale-out on Ray: a real Ray cluster of a head and two worker nodes on this machine's
loopback (Ray's own multi-node cluster, started and stopped here), driven by ``audiopipe run
--ray ADDRESS`` as a user would; worker processes killed with SIGKILL mid-file."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EVENTS, SPEECH

import audiopipe
from audiopipe import config

ray = pytest.importorskip("ray", reason="Ray is not installed (make install installs the scale extra)")
AUDIOPIPE = Path(sys.executable).with_name("audiopipe")
QUICK = ["--no-diarization", "--no-translate"]  # the fault tests need files to take a while, not every stage


@pytest.fixture(scope="module")
def cluster():
    """A head node with no CPU and two worker nodes of one CPU each, all on 127.0.0.1."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray keeps a loopback cluster on loopback
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1",
                                                       "include_dashboard": False})
    for _ in range(2):
        c.add_node(num_cpus=1, node_ip_address="127.0.0.1", object_store_memory=300 * 2**20)
    yield c.address
    c.shutdown()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    ev = tmp_path_factory.mktemp("evidence")
    shutil.copy(SPEECH / "de_01.wav", ev / "voice note.wav")
    shutil.copy(SPEECH / "jfk_en.flac", ev / "jfk.flac")
    shutil.copy(SPEECH / "it_01.wav", ev / "it.wav")
    shutil.copy(EVENTS / "gunshot_auto_burst_01.wav", ev / "burst.wav")
    return ev


def _run(evidence: Path, case: Path, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([str(AUDIOPIPE), "run", str(evidence), "--out", str(case), "--ray", address,
                             "--cpus-per-worker", "1", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _results(case: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(case.glob("files/*/result.json")):
        r = json.loads(p.read_text())
        r.pop("timings_s")
        r.pop("resume_key")  # speech.cpu_threads, set for the local run, is part of the config
        out[p.parent.name] = r
    return out


def _rows(case: Path) -> list[dict]:
    with open(case / "files.csv", encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _analysing() -> set[int]:
    """The worker processes analysing a file right now (Ray names them by the method they run)."""
    pids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().split(b"\0")[0].startswith(b"ray::Worker.analyse"):
                    pids.add(int(d.name))
            except OSError:
                pass
    return pids


def _kill_next(proc: subprocess.Popen, spared: set[int], timeout_s: float = 120.0) -> int:
    """SIGKILL the first worker seen analysing a file (not one already killed)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        busy = _analysing() - spared
        if busy:
            pid = min(busy)
            time.sleep(0.5)  # mid-file, not at its first instruction
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError("no worker was seen analysing a file")


def test_two_ray_nodes_give_the_local_results_and_every_output(cluster, evidence, tmp_path):
    """Each worker has one CPU, so the local run gets one thread too: a file's scores depend on
    the thread count in their last digits (``threads`` in result.json), not on the executor."""
    local = tmp_path / "local"
    one_thread = config.load("default").replace("speech", cpu_threads=1)
    summary = audiopipe.run(evidence, local, one_thread, executor="local")
    assert summary.analysed == 4 and summary.errors == 0
    proc = _run(evidence, tmp_path / "ray", cluster)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "Ray: 2 worker(s)" in out
    workers = {line.rsplit(", ", 1)[1].rstrip(")") for line in out.splitlines() if "] ok: " in line}
    assert len(workers) == 2, out  # both nodes took files
    assert _results(tmp_path / "ray") == _results(local)  # identical apart from the timings
    for table in ("segments.csv", "events.csv", "speakers.csv", "bursts.csv", "words.csv"):
        assert (tmp_path / "ray" / table).read_bytes() == (local / table).read_bytes(), table
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path / "ray", capture_output=True)
    assert check.returncode == 0, check.stdout
    # a rerun on the local executor reuses what Ray made
    again = audiopipe.run(evidence, tmp_path / "ray", executor="local")
    assert (again.analysed, again.reused) == (0, 4)


def test_a_worker_killed_mid_file_is_retried_and_every_file_is_written_once(cluster, evidence, tmp_path):
    case = tmp_path / "case"
    proc = _run(evidence, case, cluster, *QUICK)
    _kill_next(proc, set())
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    rows = _rows(case)
    assert sorted(r["path"] for r in rows) == sorted(p.name for p in evidence.iterdir())
    assert {r["status"] for r in rows} == {"ok"}
    assert len(list(case.glob("files/*/result.json"))) == 4
    assert sum(1 for line in out.splitlines() if "] ok: " in line) == 4  # each file finished once


def test_a_file_that_kills_its_worker_every_time_becomes_an_error_row(cluster, evidence, tmp_path):
    """One worker, one retry: the first file's worker is killed on both tries; the file gets an
    error row and the next file is analysed by the restarted worker."""
    two = tmp_path / "two"
    two.mkdir()
    for name in ("voice note.wav", "jfk.flac"):
        shutil.copy(evidence / name, two / name)
    preset = tmp_path / "one-retry.yaml"
    preset.write_text("run:\n  max_retries: 1\n")
    case = tmp_path / "case"
    proc = _run(two, case, cluster, "--workers", "1", "--config", str(preset), *QUICK)
    killed = {_kill_next(proc, set())}
    killed.add(_kill_next(proc, killed))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 3, out  # finished, with a per-file error
    rows = {r["path"]: r for r in _rows(case)}
    first = rows[sorted(rows)[0]]  # the files go out in the order they were found (sorted)
    assert first["status"] == "error" and first["error_kind"] == "worker_lost", rows
    assert "died 2 time(s)" in first["error"]
    assert rows[sorted(rows)[1]]["status"] == "ok"


def test_the_driver_killed_mid_run_resumes_on_rerun_without_redoing_a_file(cluster, evidence, tmp_path):
    case = tmp_path / "case"
    proc = _run(evidence, case, cluster, *QUICK)
    end = time.monotonic() + 300
    while not list(case.glob("files/*/result.json")) and time.monotonic() < end:
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no clean-up in the driver
    proc.communicate(timeout=60)
    done = {p.parent.name for p in case.glob("files/*/result.json")}
    assert 1 <= len(done) < 4
    proc = _run(evidence, case, cluster, *QUICK)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert out.count("unchanged, not redone") == len(done)
    assert sum(1 for line in out.splitlines() if "] ok: " in line) == 4 - len(done)
    assert {r["status"] for r in _rows(case)} == {"ok"}


def test_an_address_where_no_cluster_answers_is_a_clear_error_not_a_wait(evidence, tmp_path):
    started = time.monotonic()
    proc = subprocess.run([str(AUDIOPIPE), "run", str(evidence), "--out", str(tmp_path / "case"), "--ray",
                           "127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no Ray cluster answers at 127.0.0.1:9" in proc.stderr and "ray start --head" in proc.stderr
    assert time.monotonic() - started < 60


def _listening() -> set[str]:
    """Local addresses of the TCP sockets listening on this machine (hex, as /proc shows them)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                out.add(fields[1])
    return out


def _loopback(hex_address: str) -> bool:
    ip = hex_address.split(":")[0]
    if len(ip) == 8:
        return ip.endswith("7F")  # 127.x.x.x, little-endian
    return ip in ("00000000000000000000000001000000", "0000000000000000FFFF00000100007F")  # ::1, ::ffff:127.0.0.1


def test_a_cluster_started_for_the_run_listens_on_loopback_only(evidence, tmp_path):
    before = _listening()
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(evidence / "jfk.flac", one / "jfk.flac")
    proc = subprocess.Popen([str(AUDIOPIPE), "run", str(one), "--out", str(tmp_path / "case"), "--ray", *QUICK],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[str] = set()
    while proc.poll() is None:
        seen |= _listening() - before
        time.sleep(0.2)
    out, _ = proc.communicate()
    assert proc.returncode == 0, out
    assert len(seen) >= 2, "Ray's head (GCS) and raylet were not seen listening"
    assert all(_loopback(a) for a in seen), sorted(seen)


def test_a_worker_larger_than_every_node_is_a_clear_error(cluster, evidence, tmp_path):
    """The two worker nodes hold one CPU each: a 2-CPU worker fits none, though the cluster
    has 2 CPUs in all."""
    proc = subprocess.run([str(AUDIOPIPE), "run", str(evidence), "--out", str(tmp_path / "case"), "--ray", cluster,
                           "--cpus-per-worker", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no node of the Ray cluster" in proc.stderr and "can hold a worker of 2 CPU(s)" in proc.stderr
