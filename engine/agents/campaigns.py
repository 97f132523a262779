"""The campaign set a worker runs, and its reload: every worker reads the same files and
keeps the last good set when a change does not load."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from engine.shell.metrics import Metrics
from engine.core import CampaignSet
from engine.rules.config import load_config
from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns

log = logging.getLogger(__name__)


def _signature(paths: list[Path], config: Path | None) -> tuple:
    files = []
    for path in [*paths, *([config] if config else [])]:
        candidates = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
        for file in candidates:
            try:
                stat = file.stat()
            except OSError:
                continue
            files.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(files)


class CampaignSource:
    def __init__(self, paths: list[Path], config: Path | None, metrics: Metrics):
        self.paths = [Path(p) for p in paths]
        self.config_path = Path(config) if config else None
        self.metrics = metrics
        self._signature = _signature(self.paths, self.config_path)
        self.config = load_config(self.config_path)
        self.current = CampaignSet(load_campaigns(self.paths), self.config)  # a bad set stops the start
        self._loaded()

    def __call__(self) -> CampaignSet:
        return self.current

    def _loaded(self) -> None:
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        self.metrics.campaigns_loaded.set(len(self.current.by_id))

    def reload_if_changed(self) -> bool | None:
        """Reload when a file changed: True (loaded), False (kept the last good set), None."""
        signature = _signature(self.paths, self.config_path)
        if signature == self._signature:
            return None
        self._signature = signature
        try:
            config = load_config(self.config_path)
            self.current = CampaignSet(load_campaigns(self.paths), config)
        except ConfigError as error:
            self.metrics.reload_ok.set(0)
            log.error("campaign reload failed; still running the last good set:\n%s", error)
            return False
        self.config = config
        self._loaded()
        log.warning("campaigns reloaded: %d running", len(self.current.by_id))
        return True
