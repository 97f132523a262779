"""Windowed aggregates against a brute-force count over the raw event list."""

from hypothesis import given, settings, strategies as st

from engine.rules.model import Condition, Did, PropertyFilter
from engine.windows.aggregates import build_counter_specs, compare, count, counter_id, record

DAY = 86_400_000

events_strategy = st.lists(
    st.tuples(st.integers(0, 60 * DAY), st.sampled_from(["shoes", "hats"])), max_size=60
)


def brute_force(events, now, window_ms, category=None):
    return sum(1 for ts, cat in events if now - window_ms < ts <= now and (category is None or cat == category))


@settings(max_examples=300, deadline=None)
@given(events=events_strategy, wanted=st.integers(0, 6), window_days=st.integers(1, 30),
       query_offsets=st.lists(st.integers(0, 40 * DAY), min_size=1, max_size=5))
def test_sliding_window_comparisons_match_brute_force(events, wanted, window_days, query_offsets):
    events = sorted(events)
    dids = [
        Did("Viewed", op, wanted, in_last=window_days * 86400,
            where=PropertyFilter((Condition("category", "eq", "shoes"),)))
        for op in ("at_least", "at_most", "exactly")
    ]
    spec = build_counter_specs(dids)[counter_id(dids[0])]
    counters: dict = {}
    seen = []
    for ts, category in events:
        if spec.matches({"category": category}):
            record(counters, spec, ts)
        seen.append((ts, category))
        for offset in query_offsets:
            now = ts + offset
            truth = brute_force(seen, now, window_days * DAY, "shoes")
            for did in dids:
                got = count(counters, did, spec.id, now)
                assert compare(did.count_op, got, did.count) == compare(did.count_op, truth, did.count), (did, got, truth)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, start=st.integers(0, 30 * DAY), length=st.integers(1, 30 * DAY))
def test_between_counts_exactly(events, start, length):
    did = Did("Viewed", "exactly", 0, between=(start, start + length))
    spec = build_counter_specs([did])[counter_id(did)]
    counters: dict = {}
    for ts, _ in events:  # any order: a fixed window does not care
        record(counters, spec, ts)
    truth = sum(1 for ts, _ in events if start <= ts < start + length)
    assert count(counters, did, spec.id, 0) == truth


def test_kept_timestamps_are_bounded_by_the_threshold():
    did = Did("Viewed", "at_least", 3, in_last=30 * 86400)
    spec = build_counter_specs([did])[counter_id(did)]
    counters: dict = {}
    for i in range(1000):
        record(counters, spec, i * 1000)
    assert len(counters[spec.id]) == 4  # N + 1: enough to answer at_least/at_most/exactly N


def test_old_timestamps_are_dropped_past_the_longest_window():
    did = Did("Viewed", "at_least", 50, in_last=86400)
    spec = build_counter_specs([did])[counter_id(did)]
    counters: dict = {}
    record(counters, spec, 0)
    record(counters, spec, 10 * DAY)
    assert counters[spec.id] == [10 * DAY]
