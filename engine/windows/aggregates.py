"""Per-user windowed event counts, kept only for what loaded campaigns read.

A `did` condition asks "how many E (matching a filter) in the last D" and compares with
N. Keeping the timestamps of the latest `cap = N + 1` matching events answers every such
comparison exactly (if N+1 of them lie in the window, the latest N+1 do), in a few
integers per user. A `between` window is fixed, so a plain counter is exact.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Callable

from engine.rules.model import Did
from engine.rules.predicates import compile_filter, filter_key


def counter_id(did: Did) -> str:
    """Short, stable id of the aggregate a `did` condition reads (stored in user state)."""
    text = f"{did.event}|{filter_key(did.where)}|{did.between or ''}"
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


@dataclass
class CounterSpec:
    """What to keep for one (event, filter[, fixed range]) aggregate."""

    id: str
    event: str
    matches: Callable[[dict], bool]
    cap: int = 1  # timestamps kept (sliding windows)
    horizon_ms: int = 0  # the longest sliding window read
    between: tuple[int, int] | None = None  # fixed window: a plain counter

    def widen(self, did: Did) -> None:
        self.cap = max(self.cap, did.count + 1)
        if did.in_last is not None:
            self.horizon_ms = max(self.horizon_ms, did.in_last * 1000)


def build_counter_specs(dids: list[Did]) -> dict[str, CounterSpec]:
    specs: dict[str, CounterSpec] = {}
    for did in dids:
        cid = counter_id(did)
        spec = specs.get(cid)
        if spec is None:
            spec = specs[cid] = CounterSpec(cid, did.event, compile_filter(did.where), between=did.between)
        spec.widen(did)
    return specs


def record(counters: dict, spec: CounterSpec, ts_ms: int) -> None:
    """Count one matching event at ts_ms into the user's counters."""
    if spec.between is not None:
        start, end = spec.between
        if start <= ts_ms < end:
            counters[spec.id] = counters.get(spec.id, 0) + 1
        return
    stamps = counters.get(spec.id)
    if stamps is None:
        counters[spec.id] = [ts_ms]
        return
    if not stamps or ts_ms >= stamps[-1]:
        stamps.append(ts_ms)
    else:
        insort(stamps, ts_ms)
    oldest_useful = stamps[-1] - spec.horizon_ms
    if stamps[0] > oldest_useful and len(stamps) <= spec.cap:  # the usual case: nothing to drop
        return
    drop = max(len(stamps) - spec.cap, 0)
    while drop < len(stamps) and stamps[drop] <= oldest_useful:
        drop += 1
    if drop:
        del stamps[:drop]


def count(counters: dict, did: Did, cid: str, now_ms: int) -> int:
    """Matching events in the condition's window at now_ms (capped at the spec's cap)."""
    value = counters.get(cid)
    if value is None:
        return 0
    if did.between is not None:
        return value
    stamps = value
    upper = bisect_right(stamps, now_ms)
    lower = bisect_right(stamps, now_ms - did.in_last * 1000)
    return upper - lower


def compare(count_op: str, actual: int, wanted: int) -> bool:
    if count_op == "at_least":
        return actual >= wanted
    if count_op == "at_most":
        return actual <= wanted
    return actual == wanted
