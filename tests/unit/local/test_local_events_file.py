"""`--events FILE`: malformed lines are counted and logged by number; a restart resumes
after the last committed line."""

from __future__ import annotations

import logging

import orjson

from connectors.push import AllowList
from engine.local.events_file import EventFileReader
from tests.unit.core_helpers import SUBSCRIPTION
from tests.unit.local_helpers import Running, make_runtime


def line(user: str, event: str, **props) -> bytes:
    return orjson.dumps({"user": user, "event": event, "ts": 1795600000000, "props": props}) + b"\n"


async def test_bad_lines_are_counted_and_the_rest_applied(tmp_path, caplog):
    events = tmp_path / "events.ndjson"
    events.write_bytes(
        line("u1", "$push_subscribe", **SUBSCRIPTION)
        + b"{not json\n"
        + b"\n"
        + orjson.dumps({"user": 5, "event": "X"}) + b"\n"
        + line("u1", "Added To Cart", cart_id="c1")
        + line("u2", "$push_subscribe", endpoint="https://evil.example/x", keys=SUBSCRIPTION["keys"]))
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    try:
        reader = EventFileReader(runtime, str(events), AllowList())
        with caplog.at_level(logging.WARNING, "pushcast.events"):
            await reader.run()
        assert (reader.accepted, reader.rejected) == (2, 3)
        assert f"{events}:2: event rejected: invalid JSON" in caplog.text
        assert f"{events}:4: event rejected: user" in caplog.text
        assert f"{events}:6: event rejected: props.endpoint" in caplog.text
        assert len(runtime.timers) == 1 and runtime.store.load_state("u2") is None
    finally:
        await running.stop()


async def test_a_restart_resumes_after_the_last_committed_line(tmp_path, monkeypatch):
    import engine.local.events_file as module

    monkeypatch.setattr(module, "BATCH_LINES", 2)
    events = tmp_path / "events.ndjson"
    events.write_bytes(b"".join(line(f"u{n}", "Product Viewed", n=n) for n in range(5)))
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    try:
        await EventFileReader(runtime, str(events), AllowList()).run()
        with events.open("ab") as out:  # more lines arrive; the first five are not read again
            out.write(line("u9", "Product Viewed"))
        again = EventFileReader(runtime, str(events), AllowList())
        await again.run()
        assert again.accepted == 1
    finally:
        await running.stop()
