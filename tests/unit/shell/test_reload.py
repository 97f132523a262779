"""The one reloader both runtimes run: campaign folders and pushcast.yaml, the last good
set kept, listeners told of a new one."""

import os
import shutil
from pathlib import Path

from engine.shell.metrics import worker_metrics
from engine.shell.reload import CampaignReloader, load_set

ROOT = Path(__file__).resolve().parents[3]


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _reloader(folder: Path, config: Path | None = None, **kwargs) -> CampaignReloader:
    return CampaignReloader([folder], config, load_set([folder], config), **kwargs)


async def test_reload_picks_up_changes_and_keeps_the_last_good_set(tmp_path):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    shutil.copy(ROOT / "campaigns.d" / "abandoned-cart.yaml", folder)
    metrics = worker_metrics()
    source = _reloader(folder, metrics=metrics)
    seen = []
    source.on_change(seen.append)
    assert set(source().by_id) == {"abandoned-cart"}
    assert await source.reload_if_changed() is None  # nothing changed

    shutil.copy(ROOT / "campaigns.d" / "price-drop.yaml", folder)
    assert await source.reload_if_changed() is True
    assert set(source().by_id) == {"abandoned-cart", "price-drop"} and seen == [source()]
    assert metrics.campaigns_loaded._value.get() == 2

    (folder / "broken.yaml").write_text("campaign: Broken!\nname: x\n")
    good = source()
    assert await source.reload_if_changed() is False
    assert source() is good and len(seen) == 1
    assert metrics.reload_ok._value.get() == 0

    (folder / "broken.yaml").unlink()
    _touch_later(folder / "price-drop.yaml")
    assert await source.reload_if_changed() is True
    assert metrics.reload_ok._value.get() == 1


async def test_a_pushcast_yaml_change_reloads_the_limits_and_a_bad_one_keeps_them(tmp_path, caplog):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    shutil.copy(ROOT / "campaigns.d" / "abandoned-cart.yaml", folder)
    config = tmp_path / "pushcast.yaml"
    config.write_text("limits: [{max: 3, per: 1d}]\n")
    source = _reloader(folder, config)
    assert [(x.max, x.per) for x in source().config.limits] == [(3, 86400)]

    config.write_text("limits: [{max: 1, per: 1d}]\nadmin_token: a-new-token-of-some-length\n")
    _touch_later(config)
    with caplog.at_level("WARNING", "pushcast.reload"):
        assert await source.reload_if_changed() is True
    assert [(x.max, x.per) for x in source().config.limits] == [(1, 86400)]
    assert "limits now in effect" in caplog.text
    assert "admin_token changed; read at start only, restart to apply" in caplog.text

    config.write_text("limits: [{max: many, per: 1d}]\n")
    _touch_later(config)
    assert await source.reload_if_changed() is False
    assert [(x.max, x.per) for x in source().config.limits] == [(1, 86400)]
