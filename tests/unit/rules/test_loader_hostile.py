"""Hostile campaign files get a clear file:line error in time linear in their size:
no anchors or aliases (the alias bomb), bounded nesting and size, symlinks kept inside
the folder, and errors that quote a short excerpt instead of echoing a file."""

from __future__ import annotations

import asyncio

import pytest

from engine.rules.errors import ConfigError
from engine.rules.loader import load_campaigns, parse_campaign
from engine.rules.yamlpos import MAX_DEPTH, MAX_FILE_BYTES
from tests.unit.local_helpers import CART, Running, make_runtime, watch

GOOD = """campaign: welcome
who: {on: Signed Up}
what: {title: "Welcome"}
"""


def alias_bomb(levels: int) -> str:
    """The billion laughs: each level lists the previous one nine times."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\ncampaign: bomb\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_campaign(text, "c.yaml")
    return [str(p) for p in info.value.problems]


def test_an_alias_is_refused_where_it_is_used():
    text = GOOD + 'when: {dnd: off}\nx: &t "Welcome"\n'
    assert problems(text) == ["c.yaml:5:4: invalid YAML: anchors (&t) are not supported; write the value out"]
    text = GOOD.replace('title: "Welcome"', "title: *t")
    assert problems(text) == ["c.yaml:3:15: invalid YAML: aliases (*t) are not supported; write the value out"]


@pytest.mark.parametrize("levels", [4, 9])  # 9 levels: 447 bytes, 387 million strings
def test_the_alias_bomb_is_refused_at_its_first_anchor(levels):
    text = alias_bomb(levels)
    assert problems(text) == ["c.yaml:1:5: invalid YAML: anchors (&l0) are not supported; write the value out"]


def test_nesting_is_capped_with_a_position():
    text = "campaign: deep\nwhat: " + "[" * (MAX_DEPTH + 10) + "]" * (MAX_DEPTH + 10) + "\n"
    [message] = problems(text)
    assert message == f"c.yaml:2:{6 + MAX_DEPTH}: invalid YAML: nested more than {MAX_DEPTH} levels deep"


def test_an_integer_too_long_to_convert_is_a_problem_not_a_crash():
    [message] = [p for p in problems(GOOD + "ttl: " + "9" * 5000 + "\n") if "usable" in p]
    assert message.startswith('c.yaml:4:6: campaign "welcome": not a usable !!int: 999') and len(message) < 80


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path):
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "big.yaml").write_text(GOOD + "#" * MAX_FILE_BYTES + "\n")
    (folder / "ok.yaml").write_text(GOOD.replace("welcome", "ok"))
    with pytest.raises(ConfigError) as info:
        load_campaigns([folder])
    assert [str(p) for p in info.value.problems] == [
        f"{folder / 'big.yaml'}: larger than 1024 KiB, the limit for a pushcast YAML file"]


def test_a_symlink_leaving_the_folder_is_refused_without_its_content(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\nSECRET-TOKEN-abcdef\n")
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "evil.yaml").symlink_to(secret)
    (folder / "real.yaml").write_text(GOOD)
    (folder / "alias.yaml").symlink_to(folder / "real.yaml")  # inside the folder: fine (one copy)
    with pytest.raises(ConfigError) as info:
        load_campaigns([folder])
    text = str(info.value)
    assert text == f"{folder / 'evil.yaml'}: a symlink to a file outside the campaign folder; copy the file in instead"
    assert "root:x" not in text and "SECRET" not in text


def test_errors_quote_a_short_excerpt_of_a_stray_file():
    stray = "root:x:0:0:root:/root:/bin/bash\n" * 200 + "SECRET-TOKEN-abcdef\n"
    [message] = problems(stray)
    assert message.startswith('c.yaml:1:1: expected a campaign (a mapping with campaign, who, when, what), '
                              'got "root:x:0:0:root:/root:/bin/bash root:x:0')
    assert len(message) < 200 and "SECRET" not in message


async def test_the_reload_reads_the_folder_off_the_event_loop(tmp_path):
    """While a slow folder loads, the loop keeps turning (on the loop, it could not)."""
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    # Many valid campaigns: seconds of parsing and compiling, all below the caps.
    for n in range(60):
        (folder / f"c{n}.yaml").write_text(CART.replace("campaign: cart", f"campaign: c{n}"))
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    watcher = watch(runtime, folder)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0)
        before = ticks
        assert await watcher.reload_async() is True
        assert ticks - before > 1
        assert len(runtime.campaigns.by_id) == 60
        # A bad folder keeps the last good set, as before.
        (folder / "c0.yaml").write_text(alias_bomb(9))
        assert await watcher.reload_async() is False
        assert len(runtime.campaigns.by_id) == 60
    finally:
        ticker.cancel()
        await running.stop()


def test_test_files_may_use_aliases_within_a_budget(tmp_path):
    from engine.rules.testfile import load_test_file
    from engine.rules.yamlpos import MAX_ALIASED_VALUES, parse_yaml

    value, _, found = parse_yaml("a: &s {x: 1}\nb: *s\n", "t.yaml", aliases=True)
    assert found == [] and value == {"a": {"x": 1}, "b": {"x": 1}}
    _, _, found = parse_yaml(alias_bomb(9), "t.yaml", aliases=True)
    assert [str(p) for p in found] == [f"t.yaml:1:1: invalid YAML: aliases expand to more than {MAX_ALIASED_VALUES:,} values"]
    _, _, found = parse_yaml("a: &r [*r]\n", "t.yaml", aliases=True)  # a recursive alias
    assert [str(p) for p in found] == [f"t.yaml:1:4: invalid YAML: nested more than {MAX_DEPTH} levels deep"]
    bomb = tmp_path / "bomb.test.yaml"
    bomb.write_text(alias_bomb(9))
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        load_test_file(bomb)


def test_check_reports_the_symlink_and_the_bomb_by_file(tmp_path):
    import io

    from engine.rules.check import run_check

    secret = tmp_path / "secret.yaml"
    secret.write_text(GOOD)
    folder = tmp_path / "campaigns.d"
    folder.mkdir()
    (folder / "evil.yaml").symlink_to(secret)
    (folder / "bomb.yaml").write_text(alias_bomb(9))
    out = io.StringIO()
    assert run_check([folder], out) == 1
    assert out.getvalue().splitlines() == [
        f"  {folder / 'bomb.yaml'}: 1 error",
        f"{folder / 'evil.yaml'}: a symlink to a file outside the campaign folder; copy the file in instead",
        f"{folder / 'bomb.yaml'}:1:5: invalid YAML: anchors (&l0) are not supported; write the value out",
        "FAILED: 2 errors",
    ]


def test_a_tagged_empty_scalar_is_a_problem_not_a_crash():
    # Found by the loader fuzzer: ruamel's int constructor indexes an empty string.
    [message] = [p for p in problems("campaign: !!int \n") if "usable" in p]
    assert "not a usable !!int: (empty)" in message
