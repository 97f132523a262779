"""The SQLite store, the timer heap, the stats table."""

from __future__ import annotations

import pytest

from engine.local.stats import campaign_stats, format_table
from engine.local.store import DEDUPE_HORIZON_MS, Store


def enqueue(batch, message="m1", endpoint="https://e/1"):
    return batch.enqueue(message, endpoint, "u1", "c", "k", "a", b"{}", 60, "normal", False, 1000)


def test_a_batch_is_all_or_nothing(tmp_path):
    store = Store.open_dir(tmp_path)
    with pytest.raises(RuntimeError):
        with store.batch() as batch:
            batch.save_states([("u1", b"{}", 5, b"{}")])
            assert enqueue(batch)
            batch.count("c", "sent")
            batch.flush_counts()
            raise RuntimeError("crash mid-batch")
    assert store.load_state("u1") is None and store.pending_count() == 0 and store.stats() == {}


def test_sends_reports_and_counters_are_deduplicated(tmp_path):
    store = Store.open_dir(tmp_path)
    with store.batch() as batch:
        assert enqueue(batch) and not enqueue(batch) and enqueue(batch, endpoint="https://e/2")
        assert batch.report("m1", "clicked", 1) and not batch.report("m1", "clicked", 2)
        batch.count("c", "sent")
        batch.count("c", "sent")
        batch.count("c", "revenue", 2.5)
        batch.flush_counts()
    [first, second] = store.pending(10)
    with store.batch() as batch:
        assert batch.complete(first.seq, "sent", 2000) and not batch.complete(first.seq, "sent", 2001)
    assert [r.seq for r in store.pending(10)] == [second.seq]
    assert store.stats() == {"c": {"sent": 2, "revenue": 2.5}}
    assert store.message("m1") == ("c", "u1", False, None)
    # Past the horizon, a sent row is forgotten; a pending one never is.
    assert store.prune(2000 + DEDUPE_HORIZON_MS + 1) == 1
    assert store.pending_count() == 1


def test_stats_are_shaped_and_printed():
    stats = campaign_stats("cart", {"qualified": 3, "suppressed.limit": 1, "suppressed.dnd": 1, "sent": 1,
                                    "delivered": 1, "conversions.view": 1, "revenue": 10.5, "test.sent": 2,
                                    "queued": 2, "released": 1})
    assert stats["suppressed"] == {"dnd": 1, "limit": 1} and stats["suppressed_total"] == 2
    assert stats["conversions"] == {"click": 0, "view": 1} and stats["test"]["sent"] == 2
    table = format_table([stats])
    header, rule, row = table.splitlines()[:3]
    assert header.split()[:3] == ["campaign", "qualified", "suppressed"]
    assert (stats["queued"], stats["released"]) == (2, 1)
    assert row.split() == ["cart", "3", "2", "1", "1", "0", "0", "0", "2", "1", "0", "1", "10.50", "2"]
    assert "cart: limit 1" in table


def send_row(message="m1", endpoint="https://e/1"):
    return (message, endpoint, "u1", "c", "k", "a", b"{}", 60, "normal", 0, 1000)


def test_sends_queued_together_tell_new_from_repeated(tmp_path):
    store = Store.open_dir(tmp_path)
    with store.batch() as batch:
        assert batch.enqueue_many([send_row("m1"), send_row("m2")]) == [True, True]
    with store.batch() as batch:
        # m1 queued before, m3 twice in the same statement: only its first is new.
        assert batch.enqueue_many([send_row("m1"), send_row("m3"), send_row("m3"), send_row("m4")]) == \
            [False, True, False, True]
    assert [row.message_id for row in store.pending(10)] == ["m1", "m2", "m3", "m4"]


def test_a_send_the_table_refuses_fails_alone(tmp_path):
    store = Store.open_dir(tmp_path)
    with store.batch() as batch:
        assert batch.enqueue_many([send_row("m1"), send_row("m2", endpoint=None), send_row("m3")]) == \
            [True, False, True]
    assert [row.message_id for row in store.pending(10)] == ["m1", "m3"]
