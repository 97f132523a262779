"""Test sends on the Kafka runtime (`pushcast send-test --kafka`, the worker API): the
core's `test_send`, decided by the user's owner like any other record.

    one user:   requester ──▶ a `send-test` record keyed by the user into the events topic
                              └─▶ the partition's owner (user agent) decides it on the
                                  user's state: the Notify to the sends topic, like any
                                  other; the result to the replies topic (request, user)
    every test profile: first the `test_profiles` question into every partition (reach.py),
                answered by each owner from its table; then one `send-test` record per user
                found (into the partition that holds them), plus each configured
                `test_users` entry no partition holds (its owner answers no_subscription
                and makes no state for it).

Why two steps: who is a test profile is known only where the states are, and a test send
must see the user's state as of the request, so it is decided in the partition's order.
Both steps wait for known sets of answers (every partition, then every user), never for a
quiet period, so the result is exact.

The message id hashes the request and its `at` (the requester's now), so a record
redelivered after a crash decides the same message, which the send de-duplication stops.
"""

from __future__ import annotations

from engine.agents.reach import TEST_PROFILES_QUESTION, ReachError, ask_partitions
from engine.agents.records import encode_test_send
from engine.agents.requests import ReplyChannel
from engine.core.send_test import UnknownCampaign, not_a_test_user, summary
from engine.shell.inputs import new_occurrence
from engine.rules.errors import PushcastError


class TestSendError(PushcastError):
    """A test send that got no answer in time (are the workers running?)."""

    __test__ = False  # not a pytest class


async def request_test_send(bootstrap: str, events_topic: str, replies_topic: str, campaign: str,
                            user: str | None, at: int, timeout: float = 30.0) -> dict:
    """Send `campaign` as a test to `user`, or to every test profile, through the running
    workers; what happened to each user, as the embedded runtime answers it. Raises
    UnknownCampaign, NotATestUser (for a named user) or TestSendError."""
    request = new_occurrence(at)
    async with ReplyChannel(bootstrap, replies_topic) as channel:
        if user is not None:
            targets: dict[str, int | None] = {user: None}  # its partition by key, as producers do
        else:
            targets = await find_test_profiles(channel, events_topic, campaign, at, timeout)
        records = [(u.encode(), *encode_test_send(u, campaign, request, at), partition)
                   for u, partition in targets.items()]
        await channel.send(events_topic, records)
        replies = await channel.collect(request, lambda reply: reply.get("user"), set(targets), timeout)
    missing = sorted(set(targets) - set(replies))
    if missing:
        raise TestSendError(f"no answer for user(s) {', '.join(missing[:10])} within {timeout:g}s "
                            "(are the workers running, and with this --topic-prefix?)")
    results = [{k: v for k, v in reply.items() if k != "request"} for reply in replies.values()]
    if user is not None:
        reason = results[0].get("reason")
        if reason == "campaign_removed":
            raise UnknownCampaign(f"no campaign {campaign!r} in the workers' campaigns")
        if reason == "not_a_test_profile":
            raise not_a_test_user(user)
    return summary(campaign, request, len(targets), results)


async def find_test_profiles(channel: ReplyChannel, events_topic: str, campaign: str, at: int,
                             timeout: float) -> dict[str, int | None]:
    """Every test profile: user -> the partition holding its state (None: never seen)."""
    try:
        replies, _ = await ask_partitions(channel, events_topic, campaign, at, timeout, TEST_PROFILES_QUESTION)
    except ReachError as exc:
        raise TestSendError(str(exc)) from None
    errors = sorted({reply["error"] for reply in replies.values() if "error" in reply})
    if errors:
        raise UnknownCampaign("; ".join(errors))
    if any("test_users" not in reply for reply in replies.values()):
        raise TestSendError("a worker answered without its test profiles: is every worker of this version?")
    targets: dict[str, int | None] = {}
    for partition, reply in sorted(replies.items()):
        for user in reply["test_users"]:
            targets[user] = partition
    for reply in replies.values():
        for user in reply["configured"]:
            targets.setdefault(user, None)
    return targets
