"""Which worker of this machine a `pushcast worker` is: its local store folder and its
metrics port, so that several workers share a machine with the default flags.

Worker N (the first of worker-1, worker-2, … whose folder no live process holds) keeps its
RocksDB stores in `.pushcast/kafka/worker-N` and serves /metrics on 9464 + N - 1. The
hold is an flock on `.lock` in the folder: the kernel drops it when the process dies,
kill -9 included, so a restarted worker takes the first free folder again and finds the
store it left (caught up from the changelog, not rebuilt). The folders are relative to
the working directory: workers started from different folders both count themselves
worker-1, and the second then stops on the metrics port with an error naming
--metrics-port. A folder or port given explicitly is used as given, and a clash is an
error naming the flag, before Faust starts (RocksDB would otherwise fail deep inside a
rebalance with a lock error).
"""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from engine.rules.errors import PushcastError

DEFAULT_ROOT = Path(".pushcast/kafka")
DEFAULT_METRICS_PORT = 9464
MAX_WORKERS = 64  # per machine with the default folders
LOCK_FILE = ".lock"

_held: list[int] = []  # lock file descriptors, open for the life of the process


class SlotError(PushcastError):
    pass


@dataclass(frozen=True)
class Slot:
    number: int  # 1-based; 1 when --data-dir was given
    data_dir: Path
    metrics_port: int | None  # None: off
    metrics_flag: str  # how the port was chosen, for a bind error


def _try_lock(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held.append(fd)
    return True


def _holder(folder: Path) -> str:
    try:
        pid = (folder / LOCK_FILE).read_text().strip()
    except OSError:
        pid = ""
    return f" (pid {pid})" if pid else ""


def claim(data_dir: Path | None, metrics_port: int | None) -> Slot:
    """Hold this worker's data folder; resolve the defaults (None) of both flags.
    `metrics_port` 0 turns metrics off."""
    try:
        return _claim(data_dir, metrics_port)
    except OSError as exc:  # a folder that cannot be made or locked
        raise SlotError(f"--data-dir {data_dir or DEFAULT_ROOT}: {exc.strerror or exc}") from None


def _claim(data_dir: Path | None, metrics_port: int | None) -> Slot:
    if data_dir is not None:
        if not _try_lock(data_dir):
            raise SlotError(f"--data-dir {data_dir} is in use by another worker on this machine{_holder(data_dir)}; "
                            "give each worker its own --data-dir (or leave it out: each worker then takes "
                            f"the next free {DEFAULT_ROOT}/worker-N)")
        number = 1
    else:
        for number in range(1, MAX_WORKERS + 1):
            data_dir = DEFAULT_ROOT / f"worker-{number}"
            if _try_lock(data_dir):
                break
        else:
            raise SlotError(f"--data-dir: {DEFAULT_ROOT}/worker-1 … worker-{MAX_WORKERS} are all in use; "
                            "pass --data-dir")
    if metrics_port is None:
        port = DEFAULT_METRICS_PORT + number - 1
        flag = f"--metrics-port (worker {number} of this machine: default {port})"
    else:
        port, flag = metrics_port, "--metrics-port"
    return Slot(number, data_dir, port or None, flag)


def port_error(flag: str, host: str, port: int, error: OSError) -> SlotError:
    return SlotError(f"{flag}: cannot listen on {host}:{port}: {error.strerror or error}; another worker on "
                     "this machine? give each its own port (0 turns metrics off)")


def check_port(host: str, port: int, flag: str) -> None:
    """Fail now, naming the flag, if `host:port` cannot be bound: the worker API binds it
    later inside Faust, where a failure would be a traceback in a crashed task."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SlotError(f"{flag}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
