"""Reach on the Kafka runtime, exact across workers: one question per partition.

    requester ──▶ one internal `reach` record into every events-topic partition
                  └─▶ the partition's current owner (user agent) counts the user states
                      of that partition ──▶ reach-replies topic (request, partition, counts)
    requester ◀── sums exactly one reply per partition

Every partition is answered once, by its active owner, in the partition's own order (the
count sees every record before the request), so the sum is exact however partitions are
spread, and standby copies are never counted: a stored state carries the partition it
was written for, and only states of the request's partition are read. A request
redelivered after a crash is answered again; the requester keeps the first reply.

The same record asks a second question, `test_profiles`: which users of the partition
are test profiles (a test send to every test profile starts with it, send_test.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Iterable

import orjson

from engine.agents.records import INTERNAL_HEADER, header
from engine.agents.requests import ReplyChannel
from engine.core.campaigns import CampaignSet
from engine.shell.reach import Reach, count_reach_raw, having_needles, needles_of
from engine.errors import PushcastError

REACH = b"reach"
REACH_QUESTION = "reach"
TEST_PROFILES_QUESTION = "test_profiles"  # which users of the partition are test profiles
USER_QUESTION = "user"  # one user's stored state (the gateway's GET /v1/users/{id}), keyed by the user
REPLY_FIELDS = ("users", "qualified", "reachable", "no_subscription", "test_profiles")


class ReachError(PushcastError):
    """A reach request that could not be answered (unknown campaign, no reply in time)."""


@dataclass(frozen=True)
class ReachRequest:
    request: str
    campaign: str
    at: int  # epoch ms: every partition is evaluated at the same moment
    partition: int  # the events-topic partition the request was read from
    question: str = REACH_QUESTION
    user: str = ""  # USER_QUESTION: whose state


def encode_request(request: str, campaign: str, at: int, question: str = REACH_QUESTION,
                   user: str = "") -> tuple[bytes, list[tuple[str, bytes]]]:
    raw = {"request": request, "campaign": campaign, "at": at}
    if question != REACH_QUESTION:
        raw["question"] = question
    if user:
        raw["user"] = user
    return orjson.dumps(raw), [(INTERNAL_HEADER, REACH)]


def is_request(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == REACH


def decode_request(value: bytes | None, partition: int) -> ReachRequest:
    raw = orjson.loads(value or b"null")
    question = str(raw.get("question", REACH_QUESTION))
    if question not in (REACH_QUESTION, TEST_PROFILES_QUESTION, USER_QUESTION):
        raise ValueError(f"question: unknown {question!r} "
                         f"(known: {REACH_QUESTION}, {TEST_PROFILES_QUESTION}, {USER_QUESTION})")
    return ReachRequest(str(raw["request"]), str(raw["campaign"]), int(raw["at"]), partition, question,
                        str(raw.get("user", "")))


def answer_user(request: ReachRequest, stored: bytes | None) -> dict:
    """The reply to a USER_QUESTION: the user's state body (`UserState.dumps()`, as text)
    when this partition holds it, else null. Asked in the user's own partition, after
    every record acknowledged before it, so the answer is as fresh as the request."""
    reply = {"request": request.request, "partition": request.partition, "user": request.user, "state": None}
    if stored is not None:
        head, _, body = bytes(stored).partition(b"\n")
        if int(head.split(b" ")[0]) == request.partition:
            reply["state"] = body.decode()
    return reply


def answer(requests: list[ReachRequest], stored: Iterable[tuple[object, bytes | None]],
           campaigns: CampaignSet) -> list[dict]:
    """One reply per request: the reach over the stored states (table items, values in
    `records.StoredState` form) of the request's partition."""
    wanted = {r.partition for r in requests}
    named = {r.partition for r in requests if r.question == TEST_PROFILES_QUESTION}  # need the user names
    bodies: dict[int, list[bytes]] = {p: [] for p in wanted}
    users: dict[int, list[str]] = {p: [] for p in named}
    # Each state's partition as its header writes it (b"%d"), so a row costs a look-up,
    # not an int(); the bodies are split off as bytes, not memoryviews: a memoryview is
    # an object the cycle collector tracks, and a million of them made it run over and
    # over (x5 the CPU of this split, measured; see bench/RESULTS.md).
    by_head = {b"%d" % p: (bodies[p], users.get(p)) for p in wanted}
    for key, value in stored:
        if value is None:
            continue
        head, _, body = value.partition(b"\n")
        found = by_head.get(head[:head.index(b" ")])
        if found is not None:
            found[0].append(body)
            if found[1] is not None:
                found[1].append(key.decode() if isinstance(key, bytes) else str(key))
    replies = []
    for request in requests:
        reply = {"request": request.request, "partition": request.partition, "campaign": request.campaign,
                 "at": request.at}
        compiled = campaigns.get(request.campaign)
        if compiled is None:
            reply["error"] = (f"no campaign {request.campaign!r} in the worker's campaigns "
                              f"(known: {', '.join(sorted(campaigns.by_id)) or 'none'})")
        elif request.question == TEST_PROFILES_QUESTION:
            reply["test_users"] = stored_test_profiles(users[request.partition], bodies[request.partition], campaigns)
            reply["configured"] = sorted(campaigns.config.test_users)
        else:
            # only the states with the segment's needles are parsed (engine.shell.reach)
            states = bodies[request.partition]
            found = count_reach_raw(having_needles(states, needles_of(compiled.campaign.segment)), compiled,
                                    request.at, campaigns, users=len(states))
            reply.update({name: getattr(found, name) for name in REPLY_FIELDS})
            if found.best_hours is not None:
                reply["best_hours"] = found.best_hours
        replies.append(reply)
    return replies


def stored_test_profiles(users: list[str], bodies: list[bytes], campaigns: CampaignSet) -> list[str]:
    """The test profiles (`engine.core.delivery.is_test_profile`) among stored states."""
    configured = frozenset(campaigns.config.test_users)
    found = []
    for user, body in zip(users, bodies):
        # orjson writes `"test":true` without spaces: only those states are decoded.
        if user in configured or (b'"test":true' in body and orjson.loads(body).get("p", {}).get("test") is True):
            found.append(user)
    return sorted(found)


def total(campaign: str, at: int, partitions: int, replies: dict[int, dict], seconds: float = 0.0) -> Reach:
    """The sum of one reply per partition; an error in any reply is the answer."""
    errors = sorted({r["error"] for r in replies.values() if "error" in r})
    if errors:
        raise ReachError("; ".join(errors))
    missing = sorted(set(range(partitions)) - set(replies))
    if missing:
        raise ReachError(f"no reply for partition(s) {missing}")
    sums = {name: sum(int(r[name]) for r in replies.values()) for name in REPLY_FIELDS}
    timed = [r["best_hours"] for r in replies.values() if "best_hours" in r]  # when.best_time campaigns
    best_hours = {} if timed else None
    for hours in timed:
        for label, n in hours.items():
            best_hours[label] = best_hours.get(label, 0) + int(n)
    return Reach(campaign, at, seconds=round(seconds, 3), best_hours=best_hours, **sums)


async def request_reach(bootstrap: str, events_topic: str, replies_topic: str, campaign: str, at: int,
                        timeout: float = 30.0) -> Reach:
    """Ask every partition's owner and sum their answers (the workers must be running)."""
    started = time.perf_counter()
    async with ReplyChannel(bootstrap, replies_topic) as channel:
        replies, partitions = await ask_partitions(channel, events_topic, campaign, at, timeout)
    return total(campaign, at, len(partitions), replies, time.perf_counter() - started)


async def ask_partitions(channel: ReplyChannel, events_topic: str, campaign: str, at: int, timeout: float,
                         question: str = REACH_QUESTION) -> tuple[dict[int, dict], list[int]]:
    """One `question` into every partition of the events topic: (replies by partition,
    partitions); raises ReachError naming the partitions that did not answer in time."""
    request = uuid.uuid4().hex
    partitions = await channel.partitions(events_topic)
    value, headers = encode_request(request, campaign, at, question)
    await channel.send(events_topic, [(b"$reach", value, headers, p) for p in partitions])
    replies = await channel.collect(request, lambda reply: reply.get("partition"), set(partitions), timeout)
    missing = sorted(set(partitions) - set(replies))
    if missing:
        raise ReachError(f"no reply for partition(s) {missing} of {events_topic} within {timeout:g}s "
                         "(are the workers running, and with this --topic-prefix?)")
    return replies, partitions


async def request_user_state(bootstrap: str, events_topic: str, replies_topic: str, user: str, at: int,
                             timeout: float) -> tuple[bool, bytes | None]:
    """Ask the worker owning the user (the question goes in the user's partition, keyed
    by the user as their events are, so it is answered after every event of theirs
    acknowledged before): (answered in time, the state body or None: no such user)."""
    request = uuid.uuid4().hex
    value, headers = encode_request(request, "", at, USER_QUESTION, user)
    async with ReplyChannel(bootstrap, replies_topic) as channel:
        await channel.send(events_topic, [(user.encode(), value, headers, None)])
        replies = await channel.collect(request, lambda reply: reply.get("user"), {user}, timeout)
    if user not in replies:
        return False, None
    state = replies[user].get("state")
    return True, state.encode() if state is not None else None
