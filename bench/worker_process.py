"""What the benches read of a process they run (a Kafka worker, `pushcast run`, the
gateway) from outside: CPU time, the time its threads waited for a CPU, its wake-ups,
its rate at rest, and a py-spy recording."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: the figure least moved by other jobs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes under `pid` now running (a worker's reach processes, reach_pool.py)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                pass  # ended meanwhile
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def tree_seconds(pid: int, read) -> tuple[float, float]:
    """(`read(pid)`, its sum over the descendants now running): `read` is `cpu_seconds` or
    `run_queue_seconds`. A child still running is not in its parent's /proc figures (those
    count only children waited for)."""
    children = 0.0
    for child in descendants(pid):
        try:
            children += read(child)
        except (FileNotFoundError, ProcessLookupError):
            pass  # ended meanwhile
    return read(pid), children


def run_queue_seconds(pid: int) -> float:
    """Seconds the process's threads have waited for a CPU so far (runnable, not running)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def wake_ups(pid: int) -> int:
    """Times the process's threads have gone to sleep and been woken so far (voluntary
    context switches): an idle worker's timers show here."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int(next(line for line in (task / "status").read_text().splitlines()
                              if line.startswith("voluntary_ctxt_switches")).split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def idle(pid: int, seconds: float = 5) -> dict:
    """CPU s/s and wake-ups/s of a worker with nothing to do."""
    cpu0, woken0 = cpu_seconds(pid), wake_ups(pid)
    time.sleep(seconds)
    return {"cpu": round((cpu_seconds(pid) - cpu0) / seconds, 3), "wake_ups": round((wake_ups(pid) - woken0) / seconds)}


def profile(pid: int, seconds: float, out: Path, gil: bool) -> subprocess.Popen | None:
    """py-spy recording the worker (collapsed stacks in `out`); `gil`: only samples that
    hold the GIL (CPU spent in Python), else every thread's, waiting included."""
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists() and not shutil.which(spy):
        print("  (no py-spy: not profiling)")
        return None
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "200", "-f", "raw",
                             *(["--gil"] if gil else []), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


class ReadProbe:
    """Calls `read` every 0.1 s in a thread while in the block, timing each call: a
    worker's /metrics, for one, is served by a thread of the worker that needs its GIL, so
    its time shows how long the worker's other threads wait behind its work."""

    def __init__(self, read):
        self.read, self.seconds, self.done = read, [], threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while not self.done.wait(0.1):
            started = time.perf_counter()
            self.read()
            self.seconds.append(time.perf_counter() - started)

    def __enter__(self) -> "ReadProbe":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
