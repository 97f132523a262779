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

    def reload(self, problems: list[str] | None = None) -> bool:
        """Load the folder now; True when the new set is running. `problems` receives
        every problem found."""
        self.last = snapshot(self.paths)
        try:
            new = load_set(self.paths, self.config)
        except ConfigError as error:
            for problem in error.problems:
                log.error("reload: %s", problem)
                if problems is not None:
                    problems.append(str(problem))
            log.error("reload failed: %d problem(s); still running the previous %d campaign(s)",
                      len(error.problems), len(self.runtime.campaigns.by_id))
            if self.metrics is not None:
                self.metrics.reloaded(False)
            return False
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
        while True:
            try:
                await asyncio.wait_for(self.requested.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            forced = self.requested.is_set()
            self.requested.clear()
            if forced or snapshot(self.paths) != self.last:
                self.reload()
