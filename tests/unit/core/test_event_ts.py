"""An event's `ts` has a documented range: from 2000-01-01 to a margin (a day by default,
`max_event_ahead`) after its arrival. Outside it, every way in refuses the event naming
`ts`: a 400 over HTTP, a numbered line for `--events FILE`, a dead letter on Kafka."""

from __future__ import annotations

import logging

import orjson
import pytest

from connectors.push import AllowList
from engine.agents.records import decode_record
from engine.core import EventError, parse_event
from engine.core.events import MAX_TS_MS, MIN_TS_MS, parse_ts
from engine.local.events_file import EventFileReader
from engine.rules.config import parse_config
from tests.unit.core_helpers import T0, campaigns
from tests.unit.local_helpers import CART, Running, admin_api, make_runtime

DAY = 86_400_000
# The values the hostile-input probe sent: each was answered 200 `accepted`, then broke
# the group commit that tried to save it.
HOSTILE = [1e19, 2**70, "10000-01-01T00:00:00Z", -1e15, float("nan"), float("inf"), 0, "1999-12-31T23:59:59Z"]


@pytest.mark.parametrize("value", HOSTILE)
def test_out_of_range_ts_is_refused_naming_ts(value):
    with pytest.raises(EventError) as info:
        parse_event({"user": "u1", "event": "Viewed", "ts": value}, T0)
    assert info.value.field == "ts"


def test_the_range_bounds_themselves():
    assert parse_ts(MIN_TS_MS, T0) == MIN_TS_MS
    assert parse_ts("2000-01-01T00:00:00Z", T0) == MIN_TS_MS
    assert parse_ts(T0 + DAY, T0) == T0 + DAY
    with pytest.raises(EventError, match="more than 1 day ahead of now"):
        parse_ts(T0 + DAY + 1, T0)
    assert parse_ts(T0 + 2 * DAY, T0, 3 * DAY) == T0 + 2 * DAY
    # Without an arrival (a backtest file), the far future is allowed up to year 9999.
    assert parse_ts(MAX_TS_MS, 0, None) == MAX_TS_MS
    with pytest.raises(EventError, match="after the year 9999"):
        parse_ts(MAX_TS_MS + 1, 0, None)
    # A missing ts is the arrival time, unchecked (it is the runtime's own clock).
    assert parse_ts(None, T0) == T0


def test_the_error_quotes_a_short_excerpt_of_the_value():
    with pytest.raises(EventError) as info:
        parse_ts("9" * 5000, T0)
    assert len(str(info.value)) < 200


async def test_http_answers_400_naming_ts_and_stores_nothing(tmp_path):
    runtime = make_runtime(tmp_path / "state")
    async with admin_api(runtime) as (client, auth):
        # Written as raw JSON: 2**70 and 1e19 as a client would send them.
        for value in ["1e19", str(2**70), '"10000-01-01T00:00:00Z"', "-1e15"]:
            raw = b'{"user": "u1", "event": "Added To Cart", "ts": %s, "props": {"cart_id": "c1"}}' % value.encode()
            response = await client.post("/v1/events", headers=auth, data=raw)
            body = await response.json()
            assert response.status == 400, (value, body)
            assert body["field"] == "ts", body
        # The batch form names the index of the bad item, and nothing of the batch is applied.
        batch = [{"user": "u2", "event": "Added To Cart", "props": {"cart_id": "c1"}},
                 {"user": "u2", "event": "Added To Cart", "ts": T0 + 2 * DAY}]
        response = await client.post("/v1/events", headers=auth, json=batch)
        body = await response.json()
        assert response.status == 400 and body["field"] == "ts" and body["index"] == 1
        ok = await client.post("/v1/events", headers=auth, json={"user": "u3", "event": "Added To Cart",
                                                                 "ts": T0 + 3600_000, "props": {"cart_id": "c1"}})
        assert ok.status == 200
        await runtime.barrier()
        assert runtime.store.load_state("u1") is None and runtime.store.load_state("u2") is None
        assert runtime.store.load_state("u3") is not None


async def test_events_file_refuses_the_line_by_number_and_applies_the_rest(tmp_path, caplog):
    events = tmp_path / "events.ndjson"
    lines = [{"user": "u1", "event": "Added To Cart", "ts": T0, "props": {"cart_id": "c1"}},
             {"user": "u2", "event": "Added To Cart", "ts": 1e19, "props": {"cart_id": "c1"}},
             {"user": "u3", "event": "Added To Cart", "ts": T0 + 2 * DAY, "props": {"cart_id": "c1"}}]
    events.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in lines))
    runtime = make_runtime(tmp_path / "state")
    running = Running(runtime)
    try:
        reader = EventFileReader(runtime, str(events), AllowList())
        with caplog.at_level(logging.WARNING, "pushcast.events"):
            await reader.run()
        assert (reader.accepted, reader.rejected) == (1, 2)
        assert f"{events}:2: event rejected: ts: " in caplog.text
        assert f"{events}:3: event rejected: ts: " in caplog.text
        # The offset advanced past the bad lines: a restart does not meet them again.
        assert runtime.store.get_meta(f"events_file:{events.resolve()}").endswith(":3")
    finally:
        await running.stop()


async def test_max_event_ahead_in_pushcast_yaml_widens_the_margin(tmp_path):
    config = parse_config("max_event_ahead: 7d\n")
    assert config.max_event_ahead == 7 * 86400
    events = tmp_path / "events.ndjson"
    events.write_bytes(orjson.dumps({"user": "u1", "event": "Added To Cart", "ts": T0 + 3 * DAY,
                                     "props": {"cart_id": "c1"}}) + b"\n")
    runtime = make_runtime(tmp_path / "state")
    runtime.campaigns = campaigns(CART, config=config)
    running = Running(runtime)
    try:
        reader = EventFileReader(runtime, str(events), AllowList())
        await reader.run()
        assert (reader.accepted, reader.rejected) == (1, 0)
    finally:
        await running.stop()


def test_kafka_records_out_of_range_are_dead_letters_naming_ts():
    # The bound is relative to the record's own timestamp, so a replay decides the same.
    value = orjson.dumps({"user": "u1", "event": "Viewed", "ts": T0 + 2 * DAY})
    with pytest.raises(EventError) as info:
        decode_record(b"u1", value, [], T0)
    assert info.value.field == "ts"
    assert decode_record(b"u1", value, [], T0 + DAY).ts == T0 + 2 * DAY
