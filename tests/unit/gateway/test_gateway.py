"""The gateway's parts without Kafka: one API contract for both runtimes, the records it
writes, the user question and its answer, signed payloads, the shared tracking secret
and the replay claims of reports."""

from __future__ import annotations

import asyncio
import inspect
import os
import stat

import orjson
import pytest

from connectors.http.protocol import RuntimeApi
from engine.agents.reach import USER_QUESTION, answer_user, decode_request, encode_request
from engine.agents.records import StoredState, decode_notify, decode_record, encode_notify
from engine.agents.track_secret import ENV, TrackSecretError, track_secret
from engine.core import Event, Notify, Subscription, UserState
from engine.gateway.api import KafkaApi
from engine.gateway.producer import encode_event, report_record
from engine.gateway.reports import MemoryReportClaims, claim_key
from engine.local.api import EmbeddedApi
from engine.rules.model import GlobalConfig
from engine.shell.inputs import Report
from engine.shell.tracking import check_signature

PROTOCOL = [name for name in vars(RuntimeApi) if not name.startswith("_")]


@pytest.mark.parametrize("runtime", [EmbeddedApi, KafkaApi])
def test_both_runtimes_implement_every_member_of_the_protocol(runtime):
    assert len(PROTOCOL) == 12, PROTOCOL
    for name in PROTOCOL:
        ours, theirs = getattr(RuntimeApi, name), getattr(runtime, name, None)
        assert theirs is not None, f"{runtime.__name__} lacks {name}"
        assert isinstance(theirs, property) == isinstance(ours, property), name
        if not isinstance(ours, property):
            assert inspect.iscoroutinefunction(theirs) == inspect.iscoroutinefunction(ours), name
            assert list(inspect.signature(theirs).parameters) == list(inspect.signature(ours).parameters), name


def test_an_event_becomes_the_record_a_worker_reads_back_unchanged():
    event = Event("u-1", "Added To Cart", 1_700_000_000_123, {"price": 9.5})
    key, value = encode_event(event)
    assert key == b"u-1"
    # The worker's clock differs: the record carries the gateway's arrival time.
    assert decode_record(key, value, None, 1_700_000_000_000) == event
    assert orjson.loads(encode_event(Event("u-2", "Viewed", 5))[1]) == {"user": "u-2", "event": "Viewed", "ts": 5}


def test_a_report_becomes_the_core_event_in_the_partition_of_its_user():
    key, value = report_record(Report("m-1", "clicked", "cart", "asha", "checkout"), 1_700_000_000_077)
    assert key == b"asha"
    assert decode_record(key, value, None, 1_700_000_000_000) == Event(
        "asha", "$notification_clicked", 1_700_000_000_077, {"message": "m-1", "campaign": "cart", "action": "checkout"})


def test_the_user_question_is_answered_only_from_the_partition_asked():
    value, headers = encode_request("r-1", "", 5, USER_QUESTION, "asha")
    request = decode_request(value, 3)
    assert (request.question, request.user, request.partition) == (USER_QUESTION, "asha", 3)
    state = UserState("asha", profile={"name": "Asha"})
    stored = StoredState(state, 3, 11).dumps()
    reply = answer_user(request, stored)
    assert reply["user"] == "asha" and reply["request"] == "r-1"
    assert UserState.loads(reply["state"].encode()).profile == {"name": "Asha"}
    assert answer_user(request, StoredState(state, 2, 11).dumps())["state"] is None  # another partition's copy
    assert answer_user(request, None)["state"] is None
    with pytest.raises(ValueError, match="question: unknown"):
        decode_request(orjson.dumps({"request": "r", "campaign": "", "at": 1, "question": "who"}), 0)


def test_a_worker_signs_the_payload_it_sends_so_a_gateway_can_check_reports():
    notify = Notify("m-9", "cart", "asha", 10, {"title": "Hi", "message": "m-9", "campaign": "cart"},
                    (Subscription("https://fcm.googleapis.com/fcm/send/x", "p", "a"),), 60)
    signed, partition = decode_notify(encode_notify(notify, 2, b"s" * 32))
    assert partition == 2 and signed.payload["user"] == "asha"
    # Bound to (message, campaign, user): a report cannot move it to another campaign or user.
    assert check_signature(b"s" * 32, "m-9", "cart", "asha", signed.payload["sig"])
    assert not check_signature(b"s" * 32, "m-9", "cart", "mallory", signed.payload["sig"])
    assert not check_signature(b"t" * 32, "m-9", "cart", "asha", signed.payload["sig"])
    unsigned, _ = decode_notify(encode_notify(notify, 2))
    assert "sig" not in unsigned.payload


def test_the_tracking_secret_is_made_once_beside_the_vapid_key_and_shared(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    config = GlobalConfig(vapid_key=str(tmp_path / "keys" / "vapid.pem"))
    (tmp_path / "keys").mkdir()
    first = track_secret(config)
    assert len(first) >= 32 and track_secret(config) == first  # read back, not made again
    path = tmp_path / "keys" / "track_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path / "keys")) == ["track_secret"]  # no temporary file left
    monkeypatch.setenv(ENV, "e" * 40)
    assert track_secret(config) == b"e" * 40
    monkeypatch.setenv(ENV, "short")
    with pytest.raises(TrackSecretError, match=ENV):
        track_secret(config)


def test_without_a_vapid_key_or_a_readable_file_the_error_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(TrackSecretError, match=ENV):
        track_secret(GlobalConfig())
    # A folder it cannot write (here: missing) and no file: the error names the file to make.
    with pytest.raises(TrackSecretError, match="openssl rand -hex 32 > .*absent/track_secret"):
        track_secret(GlobalConfig(vapid_key=str(tmp_path / "absent" / "k.pem")))


def test_a_report_is_claimed_once_and_released_when_it_could_not_be_written():
    claims = MemoryReportClaims(size=2)

    async def scenario():
        key = claim_key("m-1", "clicked")
        assert await claims.claim(key) is True
        assert await claims.claim(key) is False  # a replay
        assert await claims.claim(claim_key("m-1", "shown")) is True  # another kind of report
        await claims.release(key)
        assert await claims.claim(key) is True  # the retry of a report Kafka did not take

    asyncio.run(scenario())


class _Producer:
    def __init__(self, error: Exception | None = None):
        self.error = error
        self.written: list[tuple[bytes, bytes]] = []

    async def produce(self, records):
        if self.error is not None:
            raise self.error
        self.written += records


def _api(producer) -> KafkaApi:
    from engine.gateway.api import Topics
    from engine.shell.clock import ManualClock

    return KafkaApi(Topics("k:9092", "e", "r"), lambda: None, producer, b"s" * 32, ManualClock(1000),
                    MemoryReportClaims())


def test_submit_writes_events_and_a_report_once_and_kafka_failures_are_a_503():
    from aiokafka.errors import KafkaTimeoutError

    from connectors.http.errors import ApiError

    async def scenario():
        producer = _Producer()
        api = _api(producer)
        report = Report("m-1", "clicked", "cart", "asha")
        await api.submit([Event("asha", "Viewed", 5), report])
        await api.submit([report])  # a replay: nothing written
        assert [key for key, _ in producer.written] == [b"asha", b"asha"]
        with pytest.raises(ApiError) as refused:
            await api.submit([Report("m-2", "shown", "cart", "")])
        assert (refused.value.status, refused.value.field) == (400, "user")

        failing = _api(_Producer(KafkaTimeoutError()))
        with pytest.raises(ApiError) as unavailable:
            await failing.submit([Report("m-3", "shown", "cart", "asha")])
        assert unavailable.value.status == 503 and unavailable.value.headers == {"Retry-After": "1"}
        # Not in Kafka, so not claimed: the retry goes through.
        failing.producer.error = None
        await failing.submit([Report("m-3", "shown", "cart", "asha")])
        assert len(failing.producer.written) == 1

    asyncio.run(scenario())


def test_the_gateway_listens_on_loopback_unless_told_and_names_a_bad_port(capsys):
    from engine.cli import build_parser, main

    args = build_parser().parse_args(["gateway"])
    assert (args.host, args.port, args.topic_prefix, args.redis) == ("127.0.0.1", 8080, "pushcast-", None)
    assert main(["gateway", "--port", "70000"]) == 1
    assert "--port" in capsys.readouterr().err


def test_with_redis_unreachable_a_report_is_forwarded_not_lost():
    from engine.gateway.reports import RedisReportClaims

    async def scenario():
        claims = RedisReportClaims("redis://127.0.0.1:1/0", "pushcast:test:report:")  # nothing listens on port 1
        try:
            assert await claims.claim(claim_key("m-1", "clicked")) is True
            assert await claims.claim(claim_key("m-1", "clicked")) is True
            await claims.release(claim_key("m-1", "clicked"))  # does not raise
        finally:
            await claims.close()

    asyncio.run(scenario())
