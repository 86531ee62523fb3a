"""The Ray executor: the files of a run analysed by Ray actors, each loading the models once;
the driver alone writes the case folder.

``analyse(jobs, analyzer, finish)`` keeps every actor busy with one file at a time and hands
each ``FileOutcome`` to ``finish`` (the batch loop's writer: the same atomic writes and resume
keys as the local executor) as it comes back. A worker killed mid-file (SIGKILL, out of memory, a lost
node) is restarted by Ray and the file tried again (``run.max_retries``); a file that kills its
worker every time becomes an error row and the batch goes on. Evidence is read where it lies:
every node must see the evidence folder at the same path, read-only, and have audiopipe and
its models installed; only results travel back to the driver.

Ray's usage statistics are turned off, and a cluster that Ray starts here (no address) listens
on this machine's loopback only.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ...config import Config
from ...errors import AudiopipeError
from ...pipeline import Analyzer, FileOutcome, Job, analyse_file, failed

log = logging.getLogger("audiopipe")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class RayUnavailable(AudiopipeError):
    kind = "setup"


class Worker:
    """A Ray actor: one ``Analyzer`` (models loaded once), one file at a time."""

    def __init__(self, cfg: Config):
        self.analyzer = Analyzer(cfg)
        self.name = f"{socket.gethostname()}/{os.getpid()}"

    def analyse(self, job: Job) -> FileOutcome:
        outcome = analyse_file(self.analyzer, job)
        outcome.worker = self.name
        return outcome


@dataclass
class _Tally:
    files: int = 0
    audio_s: float = 0.0
    busy_s: float = 0.0


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (``HOST:PORT``), or start one on this machine; True when
    this call started or joined it (and should shut it down), False when Ray was already up.
    Ray reads its environment when first imported: it is imported here, after setting it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage statistics sent anywhere
    host, _, port = (address or "127.0.0.1:0").rpartition(":")
    host = host.strip("[]")
    if host in LOOPBACK:
        # Ray swaps a loopback address for the machine's network address so that other machines
        # can join; a cluster on this machine alone stays on loopback
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs Ray: pip install 'ray==2.60.0' (make install does)") from exc
    if ray.is_initialized():
        return False
    if address:  # Ray waits minutes for a head that is not there: ask first
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except (OSError, ValueError) as exc:
            raise RayUnavailable(f"no Ray cluster answers at {address} ({exc}): start its head with `ray start "
                                 f"--head --port=PORT` (see the README), or leave out the address to run on a "
                                 f"cluster on this machine") from exc
    try:
        # no address: a new cluster here ("local"), never one that happens to be running
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
        return True
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot join the Ray cluster at {address}: {exc}. Start it with `ray start "
                             f"--head` (see the README) or leave out the address for one on this machine") from exc


def analyse(jobs: list[Job], analyzer: Analyzer, finish: Callable[[Job, FileOutcome], None]) -> dict[str, _Tally]:
    """Analyse ``jobs`` on Ray; ``finish(job, outcome)`` on the driver as each one comes back.
    Returns what each worker did."""
    cfg = analyzer.cfg
    run = cfg.run
    if not jobs:
        return {}
    ours = connect(run.ray_address)
    import ray
    actor = ray.remote(num_cpus=run.cpus_per_worker, num_gpus=run.gpus_per_worker, max_restarts=-1,
                       max_task_retries=run.max_retries)(Worker)
    nodes = [x["Resources"] for x in ray.nodes() if x["Alive"]]
    res = ray.cluster_resources()

    def fits(node: dict) -> int:  # workers this node can hold (an actor lives on one node)
        k = int(node.get("CPU", 0) // run.cpus_per_worker)
        return min(k, int(node.get("GPU", 0) // run.gpus_per_worker)) if run.gpus_per_worker else k

    room = sum(fits(node) for node in nodes)
    n = min(len(jobs), run.workers or max(1, room))
    if room < 1:
        if ours:
            ray.shutdown()
        raise RayUnavailable(f"no node of the Ray cluster ({len(nodes)} node(s), {res.get('CPU', 0):g} CPU(s) and "
                             f"{res.get('GPU', 0):g} GPU(s) in all) can hold a worker of {run.cpus_per_worker:g} "
                             f"CPU(s) and {run.gpus_per_worker:g} GPU(s): lower --cpus-per-worker / "
                             f"--gpus-per-worker")
    log.info(f"Ray: {n} worker(s) of {run.cpus_per_worker:g} CPU(s), {run.gpus_per_worker:g} GPU(s) on "
             f"{len(nodes)} node(s); {len(jobs)} file(s)")
    actors = [actor.remote(cfg) for _ in range(n)]
    try:
        queue, idle, pending = deque(jobs), list(actors), {}
        tallies: dict[str, _Tally] = {}
        started = time.perf_counter()
        while queue or pending:
            while idle and queue:
                job, a = queue.popleft(), idle.pop()
                ref = a.analyse.remote(job)
                pending[ref] = (job, a)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, a = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the worker died on every try (killed, out of memory)
                outcome = failed(job, "worker_lost",
                                 f"the worker analysing {job.media.path} died {run.max_retries + 1} time(s) "
                                 f"({type(exc).__name__}); out of memory? The rest of the batch went on; "
                                 f"run the same command again to retry it")
            idle.append(a)
            t = tallies.setdefault(outcome.worker, _Tally())
            t.files += 1
            t.audio_s += (job.probe.duration_s or 0.0) if job.probe else 0.0
            t.busy_s += outcome.data.get("timings_s", {}).get("total", 0.0)
            finish(job, outcome)
        wall = time.perf_counter() - started
        for name, t in sorted(tallies.items()):
            log.info(f"Ray worker {name}: {t.files} file(s), {t.audio_s:.0f} s of audio in {t.busy_s:.0f} s busy "
                     f"({t.audio_s / t.busy_s if t.busy_s else 0:.2f} x realtime)")
        log.info(f"Ray: {sum(t.audio_s for t in tallies.values()):.0f} s of audio in {wall:.0f} s wall")
    finally:  # an interrupted run leaves no actor (nor a cluster it started) behind
        for a in actors:
            ray.kill(a)
        if ours:
            ray.shutdown()
    return tallies
