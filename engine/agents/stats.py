"""Exact campaign stats on the Kafka runtime: running totals per partition, kept in the
state table, and a question answered once per partition and summed.

    user agent batch ──▶ each partition's totals += the batch's moves  (table, before
                         the states and the applied offset, same changelog partition)
    requester ──▶ one internal `stats` record into every events-topic partition
                  └─▶ the partition's owner answers its totals ──▶ replies topic
    requester ◀── sums exactly one reply per partition

Table keys (NUL-led, table.py): `STATS_PREFIX + "<partition>/<campaign>"` holds
`{"through": offset, "stats": {stat: amount}}`, the campaign's totals over the
partition's records up to `through`; `STATS_PREFIX + "<partition>"` lists the campaigns
that have one (so a new owner finds them without scanning users). Only the campaigns a
batch moved are written. The chart's hour/day buckets of one day (engine/shell/series.py)
are an entry of their own, `<campaign>@<epoch day>`, so a batch rewrites today's few
buckets, not a year of them; a new day's entry drops the days older than DAYS_KEPT.
Answers fold them back into their campaign.

Exactly once: a batch writes its totals first, then the users' states, then the
partition's applied offset, all in one changelog partition (read back in that order).
A crash leaves a prefix of those writes. The records read again then are those whose
state was not written: re-applied, their moves are skipped by `through` if their
campaign's totals were written, and counted if not. A record whose state was written
is skipped by its state's offset (users.py) and its totals were written before it.
"""

from __future__ import annotations

import time
import uuid

import orjson

from engine.agents.records import INTERNAL_HEADER, header
from engine.agents.requests import ReplyChannel
from engine.agents.table import STATS_PREFIX, in_context
from engine.errors import PushcastError
from engine.shell.series import DAYS_KEPT, day_of
from engine.shell.stats import add_counts

STATS = b"stats"


class StatsError(PushcastError):
    """Stats that could not be gathered (a partition did not answer in time)."""


def index_key(partition: int) -> bytes:
    return STATS_PREFIX + str(partition).encode()


def totals_key(partition: int, campaign: str) -> bytes:
    return STATS_PREFIX + f"{partition}/{campaign}".encode()


def entry_name(campaign: str, stat: str) -> str:
    """The book entry a stat is counted in: its campaign's, or its day's for a bucket
    (campaign ids never hold "@")."""
    day = day_of(stat)
    return campaign if day is None else f"{campaign}@{day}"


def _expired(book: dict, name: str) -> list[str]:
    """The day entries of `name`'s campaign older than DAYS_KEPT before `name`'s day."""
    campaign, _, day = name.partition("@")
    return [other for other in book if other.startswith(campaign + "@")
            and int(other.partition("@")[2]) <= int(day) - DAYS_KEPT]


class StatsBook:
    """The running totals of the partitions this worker owns: read from the table the
    first time a partition is needed, then kept here (the table is written on every
    change). `drop` forgets partitions on revocation (a later owner may change them)."""

    def __init__(self):
        # partition -> campaign -> [through, {stat: amount}]
        self.partitions: dict[int, dict[str, list]] = {}

    def drop(self, partitions) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)

    def totals(self, table, partition: int, record) -> dict[str, list]:
        """The partition's totals; `record` (one of the partition's, table.py's
        `in_context`) makes the table read that partition's store."""
        book = self.partitions.get(partition)
        if book is None:
            in_context(record.ref)
            book = {}
            for campaign in orjson.loads(table.data.get(index_key(partition)) or b"[]"):
                raw = table.data.get(totals_key(partition, campaign))
                if raw is not None:
                    value = orjson.loads(raw)
                    book[campaign] = [int(value["through"]), value["stats"]]
            self.partitions[partition] = book
        return book

    def write(self, table, batch, moves, records) -> dict[tuple[str, str], float]:
        """Add a batch's moves (users.py `Move`s) to its partitions' totals and write the
        totals they changed into `batch` (a `table.TableBatch`, before the batch's states);
        returns what was newly counted, (campaign, stat) -> amount. `records`: the
        batch's records, the last of each partition marks `through`."""
        last = {}
        for record in records:
            last[record.partition] = record
        counted: dict[tuple[str, str], float] = {}
        changed: dict[int, set[str]] = {}
        expired: dict[int, list[str]] = {}
        for move in moves:
            book = self.totals(table, move.partition, last[move.partition])
            name = entry_name(move.campaign, move.stat)
            entry = book.get(name)
            if entry is None:
                entry = book[name] = [-1, {}]
                changed.setdefault(move.partition, set()).add("")  # the index changes too
                if name != move.campaign:
                    for old in _expired(book, name):
                        del book[old]
                        expired.setdefault(move.partition, []).append(old)
            if move.offset <= entry[0]:
                continue  # counted before a crash: its state was not written, its totals were
            stats = entry[1]
            stats[move.stat] = stats.get(move.stat, 0) + move.amount
            key = (move.campaign, move.stat)
            counted[key] = counted.get(key, 0) + move.amount
            changed.setdefault(move.partition, set()).add(name)
        for partition, campaigns in changed.items():
            record = last[partition]
            in_context(record.ref)
            book = self.partitions[partition]
            if "" in campaigns:  # before the totals it names (a crash between: none yet)
                batch.put(partition, index_key(partition), orjson.dumps(sorted(book)))
            for old in expired.get(partition, ()):  # out of the index first: never read again
                if table.data.get(totals_key(partition, old)) is not None:
                    batch.delete(partition, totals_key(partition, old))
            for campaign in sorted(campaigns - {""}):
                entry = book[campaign]
                entry[0] = record.offset
                batch.put(partition, totals_key(partition, campaign),
                          orjson.dumps({"through": entry[0], "stats": entry[1]}))
        return counted

    def answer(self, table, records, winners: dict | None = None, engagement: dict | None = None) -> list[dict]:
        """One reply per stats request record (after the batch's writes): its partition's
        totals, of every campaign or the one asked for, and the A/B `winners` and the
        `engagement` guard's verdicts this worker knows ({campaign: as stats show it})."""
        replies = []
        for record in records:
            try:
                request = orjson.loads(record.value or b"null")
                campaign = request.get("campaign")
                reply = {"request": str(request["request"]), "partition": record.partition}
            except Exception:
                continue  # not one of ours: nobody waits for an answer
            book = self.totals(table, record.partition, record)
            stats: dict[str, dict[str, float]] = {}
            for name, entry in book.items():
                owner = name.partition("@")[0]  # a day's buckets go back to their campaign
                if campaign is None or owner == campaign:
                    add_counts(stats, {owner: entry[1]})
            reply["stats"] = stats
            if winners:
                reply["winners"] = {name: w for name, w in winners.items() if campaign is None or name == campaign}
            if engagement:
                reply["engagement"] = {name: v for name, v in engagement.items() if campaign is None or name == campaign}
            replies.append(reply)
        return replies


def is_request(headers) -> bool:
    return header(headers, INTERNAL_HEADER) == STATS


def encode_request(request: str, campaign: str | None) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps({"request": request, "campaign": campaign}), [(INTERNAL_HEADER, STATS)]


async def request_stats(bootstrap: str, events_topic: str, replies_topic: str, campaign: str | None = None,
                        timeout: float = 30.0, winners: dict | None = None,
                        engagement: dict | None = None) -> dict[str, dict[str, float]]:
    """{campaign: {stat: amount}} summed over one answer per partition (the workers must
    be running); only campaigns with counts appear. `winners`, when given, receives the
    A/B winners decided ({campaign: decision}, winners.py), `engagement` the engagement
    guard's verdicts ({campaign: verdict}). Raises StatsError naming the
    partitions that did not answer within `timeout` seconds."""
    request = uuid.uuid4().hex
    started = time.monotonic()
    async with ReplyChannel(bootstrap, replies_topic) as channel:
        partitions = await channel.partitions(events_topic)
        value, headers = encode_request(request, campaign)
        await channel.send(events_topic, [(b"$stats", value, headers, p) for p in partitions])
        left = max(0.1, timeout - (time.monotonic() - started))
        replies = await channel.collect(request, lambda reply: reply.get("partition"), set(partitions), left)
    missing = sorted(set(partitions) - set(replies))
    if missing:
        raise StatsError(f"no reply for partition(s) {missing} of {events_topic} within {timeout:g}s "
                         "(are the workers running, and with this --topic-prefix?)")
    totals: dict[str, dict[str, float]] = {}
    for partition in sorted(replies):
        add_counts(totals, replies[partition]["stats"])
        if winners is not None:
            for name, decision in replies[partition].get("winners", {}).items():
                winners.setdefault(name, decision)
        if engagement is not None:
            for name, verdict in replies[partition].get("engagement", {}).items():
                engagement.setdefault(name, verdict)
    return totals
