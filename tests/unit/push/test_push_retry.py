"""Reading a push service's answer: classification, Retry-After, back-off."""

import pytest

from connectors.push.retry import Backoff, classify, describe, parse_retry_after
from connectors.push.transport import PushResponse


@pytest.mark.parametrize(
    "status, verdict",
    [(200, "sent"), (201, "sent"), (202, "sent"), (404, "unsubscribed"), (410, "unsubscribed"),
     (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (504, "retry"),
     (400, "failed"), (401, "failed"), (403, "failed"), (413, "failed"), (301, "failed"),
     (501, "failed"), (505, "failed")],
)
def test_classify(status, verdict):
    assert classify(status) == verdict


def test_retry_after_in_seconds():
    assert parse_retry_after("120", None, now=0) == 120.0
    assert parse_retry_after(" 3 ", "Wed, 25 Nov 2026 10:00:00 GMT", now=0) == 3.0


def test_retry_after_date_is_measured_against_the_response_date():
    # our clock is an hour off; the service's own Date header decides
    assert parse_retry_after(
        "Wed, 25 Nov 2026 10:00:07 GMT", "Wed, 25 Nov 2026 10:00:00 GMT", now=0
    ) == 7.0


def test_retry_after_date_without_a_date_header_uses_our_clock():
    now = 1_795_600_000.0  # 2026-11-25 ...
    from email.utils import formatdate

    assert parse_retry_after(formatdate(now + 30, usegmt=True), None, now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), None, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_retry_after_garbage_is_ignored(value):
    assert parse_retry_after(value, None, now=0) is None


def test_backoff_is_exponential_capped_and_jittered_downwards():
    backoff = Backoff(base=1.0, cap=10.0, jitter=0.5)
    assert [backoff.delay(n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert [backoff.delay(n, lambda: 1.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_describe_keeps_the_push_service_body_within_limits():
    assert describe(PushResponse(413, {}, b"")) == "413 Request Entity Too Large"
    assert describe(PushResponse(403, {}, b'{"reason":"BadJwtToken"}')) == (
        '403 Forbidden: {"reason":"BadJwtToken"}'
    )
    long = describe(PushResponse(400, {}, b"x" * 2000))
    assert len(long) < 600 and long.endswith("...")
    assert describe(PushResponse(599, {}, b"\xff")).startswith("599 Unknown: ")
