"""The campaign set a runtime runs, and its reload, for every runtime: the campaign
folders and `pushcast.yaml` are read again when a file changes (polled every second, or
on request: SIGHUP, `POST /v1/admin/reload`). The whole set is validated before anything
changes; a bad one leaves the previous set running, logs every problem and sets
`pushcast_config_last_reload_successful` to 0.

Waits and aggregates live in each user's state, keyed by campaign id, so swapping the
`CampaignSet` is all a reload needs: unchanged campaigns keep their pending waits. Of
`pushcast.yaml`, what the decisions read (limits, quiet hours, time zone, test users,
`max_event_ahead`) changes with the set; the rest (addresses, keys, tokens, the state
folder) is read at start only, and a change to it is logged as needing a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Callable

from engine.core import CampaignSet
from engine.rules.config import load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import campaign_files, load_campaigns

log = logging.getLogger("pushcast.reload")

# What a reload of pushcast.yaml changes while running; other keys need a restart.
LIVE_KEYS = frozenset({"limits", "min_gap", "on_limit", "max_delay", "dnd", "timezone", "test_users",
                       "max_event_ahead", "decision_log", "fatigue", "engagement",
                       "declarative_push"})


def snapshot(paths: list[Path], config_path: Path | None) -> tuple:
    """What a change looks like: the campaign files' and pushcast.yaml's names, sizes and
    modification times."""
    files, _ = campaign_files(paths)
    out = []
    for file in [*files, *([config_path] if config_path is not None else [])]:
        try:
            st = file.stat()
        except OSError:
            continue
        out.append((str(file), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_set(paths: list[Path], config_path: Path | None) -> CampaignSet:
    """Load pushcast.yaml and compile every campaign; ConfigError lists every problem."""
    return CampaignSet(load_campaigns(paths), load_config(config_path))


class CampaignReloader:
    """Holds the running `CampaignSet` (call it to get it) and replaces it on a good
    reload, telling each `on_change` listener."""

    def __init__(self, paths: list[Path], config_path: Path | None, current: CampaignSet, *,
                 metrics=None, interval: float = 1.0):
        self.paths = [Path(p) for p in paths]
        self.config_path = Path(config_path) if config_path is not None else None
        self.current = current
        self.metrics = metrics
        self.interval = interval
        self.last = snapshot(self.paths, self.config_path)
        self.requested = asyncio.Event()
        self._listeners: list[Callable[[CampaignSet], None]] = []
        self._generation = self._applied = 0  # reloads begun, and the latest applied
        if metrics is not None:
            metrics.reloaded(True, len(current.by_id))

    def __call__(self) -> CampaignSet:
        return self.current

    def on_change(self, listener: Callable[[CampaignSet], None]) -> None:
        self._listeners.append(listener)

    def reload(self, problems: list[str] | None = None) -> bool:
        """Load now, on the calling thread; True when the new set is running. `problems`
        receives every problem found."""
        return self._apply(*self._load(self._next_generation()), problems)

    async def reload_async(self, problems: list[str] | None = None) -> bool:
        """`reload()` with the reading and compiling in a thread: a big or slow folder
        never stalls the event loop. The swap itself happens here, on the loop."""
        loaded = await asyncio.get_running_loop().run_in_executor(None, self._load, self._next_generation())
        return self._apply(*loaded, problems)

    async def reload_if_changed(self) -> bool | None:
        """Reload when a file changed: True (loaded), False (kept the last good set), None."""
        current = await asyncio.get_running_loop().run_in_executor(None, snapshot, self.paths, self.config_path)
        if current == self.last:
            return None
        return await self.reload_async()

    async def run(self) -> None:
        """Poll for changes every `interval`, and reload when `requested` is set."""
        while True:
            try:
                await asyncio.wait_for(self.requested.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            forced = self.requested.is_set()
            self.requested.clear()
            try:
                if forced:
                    await self.reload_async()
                else:
                    await self.reload_if_changed()
            except Exception:  # an unreadable folder must not stop the runtime; the set stays
                log.exception("reload failed; still running the previous %d campaign(s)", len(self.current.by_id))
                if self.metrics is not None:
                    self.metrics.reloaded(False)

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def _load(self, generation: int) -> tuple[int, tuple, CampaignSet | ConfigError]:
        last = snapshot(self.paths, self.config_path)
        try:
            return generation, last, load_set(self.paths, self.config_path)
        except ConfigError as error:
            return generation, last, error

    def _apply(self, generation: int, last: tuple, loaded: CampaignSet | ConfigError,
               problems: list[str] | None) -> bool:
        if generation < self._applied:
            # A reload that began later (SIGHUP, the admin API) finished first: its
            # reading of the files is the newer one.
            return isinstance(loaded, CampaignSet)
        self._applied = generation
        self.last = last
        if isinstance(loaded, ConfigError):
            for problem in loaded.problems:
                log.error("reload: %s", problem)
                if problems is not None:
                    problems.append(str(problem))
            log.error("reload failed: %d problem(s); still running the previous %d campaign(s)",
                      len(loaded.problems), len(self.current.by_id))
            if self.metrics is not None:
                self.metrics.reloaded(False)
            return False
        old, self.current = self.current, loaded
        _log_change(old, loaded)
        if self.metrics is not None:
            self.metrics.reloaded(True, len(loaded.by_id))
        for listener in self._listeners:
            listener(loaded)
        return True


def _log_change(old: CampaignSet, new: CampaignSet) -> None:
    added, removed = sorted(set(new.by_id) - set(old.by_id)), sorted(set(old.by_id) - set(new.by_id))
    log.warning("reloaded %d campaign(s)%s%s", len(new.by_id),
                f"; added {', '.join(added)}" if added else "", f"; removed {', '.join(removed)}" if removed else "")
    changed = [f.name for f in dataclasses.fields(old.config)
               if f.compare and getattr(old.config, f.name) != getattr(new.config, f.name)]
    live = [name for name in changed if name in LIVE_KEYS]
    if live:
        log.warning("pushcast.yaml: %s now in effect", ", ".join(live))
    later = [name for name in changed if name not in LIVE_KEYS]
    if later:
        log.warning("pushcast.yaml: %s changed; read at start only, restart to apply", ", ".join(later))
