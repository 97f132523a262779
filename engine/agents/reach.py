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

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Awaitable, Callable, Iterable

import orjson

from engine.agents.reach_pool import ReachPool, ReachProcessFailed
from engine.agents.records import INTERNAL_HEADER, header
from engine.agents.requests import ReplyChannel
from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.shell.reach import Reach, count_reach_raw, having_needles, needles_of
from engine.errors import PushcastError

REACH = b"reach"
REACH_QUESTION = "reach"
TEST_PROFILES_QUESTION = "test_profiles"  # which users of the partition are test profiles
USER_QUESTION = "user"  # one user's stored state (the gateway's GET /v1/users/{id}), keyed by the user
REPLY_FIELDS = ("users", "qualified", "reachable", "no_subscription", "test_profiles")
log = logging.getLogger(__name__)
SLICE = 5000  # stored values a partition's count reads at a time (partition_reach)


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


async def answer_table(requests: list[ReachRequest], values_of: Callable[[int], Iterable[bytes]],
                       items_of: Callable[[int], Awaitable[list[tuple[str, bytes]]]],
                       campaigns: CampaignSet, pool: ReachPool | None = None,
                       db_of: Callable[[int], tuple[Path, bytes] | None] = lambda partition: None) -> list[dict]:
    """One reply per request, each partition counted off the event loop, over the user
    agent's table: `values_of(partition)` its stored values (`table.user_values`: made on
    the loop, a RocksDB iterator reads the store as it is then, whatever is written while
    it is read), `items_of(partition)` its (user, stored value) pairs, for the test
    profiles (`table.scan_users`). With a `pool`, a partition whose RocksDB database
    `db_of(partition)` names ((path, Faust's offset key): `table.user_db`) is counted in
    the pool's processes, every partition at once (reach_pool.py); one whose process
    fails is counted here instead. The table is passed in as these: the gateway imports
    this module (`request_reach`) without Faust."""

    async def in_thread(request: ReachRequest) -> dict:
        if request.question == TEST_PROFILES_QUESTION:  # needs the user names
            items = await items_of(request.partition)
            return await asyncio.to_thread(answer_partition, request, (), campaigns, items)
        return await asyncio.to_thread(answer_partition, request, values_of(request.partition), campaigns)

    async def in_pool(request: ReachRequest) -> dict:
        db = db_of(request.partition)
        if request.question != REACH_QUESTION or db is None or request.campaign not in campaigns.by_id:
            return await in_thread(request)
        try:
            found = await pool.count(*db, request.partition, request.campaign, request.at, campaigns)
        except ReachProcessFailed as exc:
            log.warning("%s; counted in the worker's thread instead", exc)
            return await in_thread(request)
        return reach_reply(request, found)

    if pool is None:
        return [await in_thread(request) for request in requests]
    return list(await asyncio.gather(*map(in_pool, requests)))


def answer(requests: list[ReachRequest], stored: Iterable[tuple[object, bytes | None]],
           campaigns: CampaignSet) -> list[dict]:
    """One reply per request: the reach over the stored states (table items, values in
    `records.StoredState` form) of the request's partition."""
    stored = [(key, value) for key, value in stored if value is not None]
    values = [value for _key, value in stored]
    return [answer_partition(request, values, campaigns, stored) for request in requests]


def answer_partition(request: ReachRequest, values: Iterable[bytes], campaigns: CampaignSet,
                     items: Iterable[tuple[object, bytes]] = ()) -> dict:
    """The reply to one request: reach over `values` (stored values that may hold the
    partition's states: `partition_reach`), or for TEST_PROFILES_QUESTION the test
    profiles among `items` ((user, stored value) pairs)."""
    reply = {"request": request.request, "partition": request.partition, "campaign": request.campaign,
             "at": request.at}
    compiled = campaigns.get(request.campaign)
    if compiled is None:
        reply["error"] = (f"no campaign {request.campaign!r} in the worker's campaigns "
                          f"(known: {', '.join(sorted(campaigns.by_id)) or 'none'})")
    elif request.question == TEST_PROFILES_QUESTION:
        head = b"%d " % request.partition
        own = [(key, value) for key, value in items if value.startswith(head)]
        reply["test_users"] = stored_test_profiles([key.decode() if isinstance(key, bytes) else str(key)
                                                    for key, _ in own], [_body(value) for _, value in own], campaigns)
        reply["configured"] = sorted(campaigns.config.test_users)
    else:
        return reach_reply(request, partition_reach(values, request.partition, compiled, request.at, campaigns))
    return reply


def reach_reply(request: ReachRequest, found: Reach) -> dict:
    """The reply to a reach request: the partition's counts."""
    reply = {"request": request.request, "partition": request.partition, "campaign": request.campaign,
             "at": request.at, **{name: getattr(found, name) for name in REPLY_FIELDS}}
    if found.best_hours is not None:
        reply["best_hours"] = found.best_hours
    return reply


def partition_reach(values: Iterable[bytes], partition: int, compiled: CompiledCampaign, at: int,
                    campaigns: CampaignSet, slice_size: int = SLICE) -> Reach:
    """Reach over the states stored for `partition` among `values` (stored values,
    `records.StoredState`: a header line opening with the partition the state was written
    for, then the state). Any other value (another partition's state, a standby copy,
    Faust's changelog position: a number) is passed over. A slice of `values` at a time,
    and every pass over a slice in C, no Python call a value: the partition's states
    counted (each value's start tested against `<partition> `), the segment's byte
    needles searched in the whole value (a needle in the header line only lets a state
    through to the exact check), and only the states left are cut from their header and
    parsed (`count_reach_raw`). A slice's C calls keep the GIL: small slices let the
    event loop run between them."""
    head = b"%d " % partition  # the header's partition compared whole: 1 is not 11
    needles = needles_of(compiled.campaign.segment)
    values = iter(values)
    users, bodies = 0, []
    while chunk := list(islice(values, slice_size)):
        users += sum(map(bytes.startswith, chunk, repeat(head)))
        bodies += [value[value.index(b"\n") + 1:]  # `_body`, inlined: a Python call a state less
                   for value in having_needles(chunk, needles) if value.startswith(head)]
    return count_reach_raw(bodies, compiled, at, campaigns, users=users)


def _body(value: bytes) -> bytes:
    """The state of a stored value, after its header line (bytes, not a memoryview: a
    memoryview is an object the cycle collector tracks, x5 the CPU over a million of
    them, bench/RESULTS.md)."""
    return value[value.index(b"\n") + 1:]


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
