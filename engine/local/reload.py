"""Campaign reload: the folder is polled every second (and reloaded on SIGHUP); the whole
folder is validated before anything changes. A bad folder leaves the previous set
running, logs every problem and sets `pushcast_config_last_reload_successful` to 0.

Waits and aggregates live in each user's state, keyed by campaign id, so swapping the
`CampaignSet` is all a reload needs: unchanged campaigns keep their pending waits."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from engine.core import CampaignSet
from engine.rules.errors import ConfigError
from engine.rules.loader import campaign_files, load_campaigns

log = logging.getLogger("pushcast.reload")


def snapshot(paths: list[Path]) -> tuple:
    """What a change looks like: the campaign files' names, sizes and mtimes."""
    files, _ = campaign_files(paths)
    out = []
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        out.append((str(file), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_set(paths: list[Path], config) -> CampaignSet:
    """Load and compile every campaign; ConfigError lists every problem."""
    return CampaignSet(load_campaigns(paths), config)


class CampaignWatcher:
    def __init__(self, runtime, paths: list[Path], config, metrics=None, interval: float = 1.0):
        self.runtime = runtime
        self.paths = paths
        self.config = config
        self.metrics = metrics
        self.interval = interval
        self.last = snapshot(paths)
        self.requested = asyncio.Event()
        self._generation = self._applied = 0  # reloads begun, and the latest applied

    def reload(self, problems: list[str] | None = None) -> bool:
        """Load the folder now, on the calling thread; True when the new set is running.
        `problems` receives every problem found."""
        return self._apply(*self._load(self._next_generation()), problems)

    async def reload_async(self, problems: list[str] | None = None) -> bool:
        """`reload()` with the reading and compiling in a thread: a big or slow folder
        never stalls the event loop. The swap itself happens here, on the loop."""
        loaded = await asyncio.get_running_loop().run_in_executor(None, self._load, self._next_generation())
        return self._apply(*loaded, problems)

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def _load(self, generation: int) -> tuple[int, tuple, CampaignSet | ConfigError]:
        last = snapshot(self.paths)
        try:
            return generation, last, load_set(self.paths, self.config)
        except ConfigError as error:
            return generation, last, error

    def _apply(self, generation: int, last: tuple, loaded: CampaignSet | ConfigError,
               problems: list[str] | None) -> bool:
        if generation < self._applied:
            # A reload that began later (SIGHUP, the admin API) finished first: its
            # reading of the folder is the newer one.
            return isinstance(loaded, CampaignSet)
        self._applied = generation
        self.last = last
        if isinstance(loaded, ConfigError):
            for problem in loaded.problems:
                log.error("reload: %s", problem)
                if problems is not None:
                    problems.append(str(problem))
            log.error("reload failed: %d problem(s); still running the previous %d campaign(s)",
                      len(loaded.problems), len(self.runtime.campaigns.by_id))
            if self.metrics is not None:
                self.metrics.reloaded(False)
            return False
        new = loaded
        old = set(self.runtime.campaigns.by_id)
        self.runtime.campaigns = new
        added, removed = sorted(set(new.by_id) - old), sorted(old - set(new.by_id))
        log.info("reloaded %d campaign(s)%s%s", len(new.by_id),
                 f"; added {', '.join(added)}" if added else "", f"; removed {', '.join(removed)}" if removed else "")
        if self.metrics is not None:
            self.metrics.reloaded(True, len(new.by_id))
        if getattr(self.runtime, "scheduler", None) is not None:
            self.runtime.scheduler.changed.set()  # new schedules: re-plan
        return True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self.requested.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            forced = self.requested.is_set()
            self.requested.clear()
            try:
                if forced or await loop.run_in_executor(None, snapshot, self.paths) != self.last:
                    await self.reload_async()
            except Exception:  # an unreadable folder must not stop the server; the set stays
                log.exception("reload failed; still running the previous %d campaign(s)",
                              len(self.runtime.campaigns.by_id))
                if self.metrics is not None:
                    self.metrics.reloaded(False)
