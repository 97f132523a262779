"""Campaign reload on a worker: a change is picked up, a bad change keeps the last good set."""

import os
import shutil
from pathlib import Path

from engine.agents.campaigns import CampaignSource
from engine.shell.metrics import worker_metrics

ROOT = Path(__file__).resolve().parents[2]


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_reload_picks_up_changes_and_keeps_the_last_good_set(tmp_path):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    shutil.copy(ROOT / "campaigns.d" / "abandoned-cart.yaml", folder)
    metrics = worker_metrics()
    source = CampaignSource([folder], None, metrics)
    assert set(source().by_id) == {"abandoned-cart"}
    assert source.reload_if_changed() is None  # nothing changed

    shutil.copy(ROOT / "campaigns.d" / "price-drop.yaml", folder)
    assert source.reload_if_changed() is True
    assert set(source().by_id) == {"abandoned-cart", "price-drop"}
    assert metrics.campaigns_loaded._value.get() == 2

    (folder / "broken.yaml").write_text("campaign: Broken!\nname: x\n")
    good = source()
    assert source.reload_if_changed() is False
    assert source() is good
    assert metrics.reload_ok._value.get() == 0

    (folder / "broken.yaml").unlink()
    _touch_later(folder / "price-drop.yaml")
    assert source.reload_if_changed() is True
    assert metrics.reload_ok._value.get() == 1
