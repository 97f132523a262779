"""The gateway's campaigns: the same files as the workers, reloaded when they change
(as a worker does) and on POST /v1/admin/reload. The gateway only describes campaigns and
checks ids before asking the workers, who run their own copy."""

from __future__ import annotations

import asyncio
import logging

from engine.agents.campaigns import CampaignSource
from engine.core import CampaignSet
from engine.rules.config import load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns

log = logging.getLogger(__name__)


class GatewayCampaigns(CampaignSource):
    def reload(self, problems: list[str] | None = None) -> bool:
        """Load the files now (the admin route): True when the new set is running;
        `problems` receives every problem of a set that does not load."""
        try:
            config = load_config(self.config_path)
            new = CampaignSet(load_campaigns(self.paths), config)
        except ConfigError as error:
            self.metrics.reload_ok.set(0)
            for problem in error.problems:
                log.error("reload: %s", problem)
                if problems is not None:
                    problems.append(str(problem))
            return False
        self.config, self.current = config, new
        self._loaded()
        return True

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.reload_if_changed()
            except Exception:  # the poll must outlive one bad read
                log.exception("campaign reload failed")
