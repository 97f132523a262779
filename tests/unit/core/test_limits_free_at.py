"""When the frequency limits holding a message free (`limits_free_at`): computed from the
send history, it must be exactly the first moment `limit_reached` lets a message through."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.limits import limit_reached, limits_free_at, queue_delay
from engine.core.state import Sent
from engine.rules.model import Campaign, FrequencyLimit, GlobalConfig, Limits, When
from tests.unit.core_helpers import HOUR, MIN, T0, campaigns

SEC = 1000


def campaign(*per_user: FrequencyLimit, ignore_global: bool = False, on_limit=None, max_delay=0) -> Campaign:
    return Campaign("a", "a", what=None, when=When(limits=Limits(ignore_global, per_user, on_limit, max_delay)))


def test_a_daily_cap_frees_when_the_oldest_counted_send_leaves_the_window():
    config = GlobalConfig(limits=(FrequencyLimit(2, 86400),))
    sent = [Sent("a", "m1", T0), Sent("b", "m2", T0 + HOUR), Sent("a", "m3", T0 + 2 * HOUR)]
    # Two in a day: the second newest (T0 + 1h) leaves the window a day later.
    assert limits_free_at(sent, campaign(), config) == T0 + HOUR + 86400 * SEC


def test_the_latest_of_several_limits_and_min_gap_decides():
    config = GlobalConfig(limits=(FrequencyLimit(1, 3600), FrequencyLimit(3, 86400)), min_gap=7200)
    sent = [Sent("b", "m1", T0), Sent("b", "m2", T0 + 3 * HOUR), Sent("b", "m3", T0 + 6 * HOUR)]
    # 1/h frees at 7h, min_gap 2h at 8h, 3/day at T0 + 1d: the day decides.
    assert limits_free_at(sent, campaign(), config) == T0 + 86400 * SEC
    # min_gap alone: two hours after the newest send.
    assert limits_free_at(sent, campaign(), GlobalConfig(min_gap=7200)) == T0 + 8 * HOUR


def test_a_campaign_limit_counts_its_own_sends_and_test_sends_count_nowhere():
    own = FrequencyLimit(1, 3600)
    sent = [Sent("a", "m1", T0), Sent("b", "m2", T0 + 30 * MIN), Sent("a", "m3", T0 + 40 * MIN, counts_global=False)]
    assert limits_free_at(sent, campaign(own), GlobalConfig()) == T0 + HOUR
    # ignore_global: the global cap holding everything else does not hold this campaign.
    capped = GlobalConfig(limits=(FrequencyLimit(1, 86400),))
    assert limits_free_at(sent, campaign(own, ignore_global=True), capped) == T0 + HOUR
    assert limits_free_at(sent, campaign(own), capped) == T0 + 30 * MIN + 86400 * SEC


def test_the_campaign_on_limit_wins_over_the_global_one():
    queue = GlobalConfig(on_limit="queue", max_delay=3600)
    assert queue_delay(campaign(), queue) == 3600
    assert queue_delay(campaign(on_limit="drop"), queue) == 0
    assert queue_delay(campaign(on_limit="queue", max_delay=60), GlobalConfig()) == 60
    assert queue_delay(campaign(), GlobalConfig()) == 0


limits = st.lists(st.builds(FrequencyLimit, st.integers(1, 3), st.integers(1, 120)), max_size=2)
history = st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 200 * SEC), st.booleans()), max_size=8)


@settings(max_examples=400, deadline=None)
@given(history, limits, limits, st.integers(0, 90), st.booleans(), st.integers(0, 150 * SEC))
def test_the_free_time_is_the_first_moment_no_limit_holds(sends, global_limits, own, min_gap, ignore, after):
    sent = [Sent(c, f"m{i}", T0 + at, counts_global=real) for i, (c, at, real) in enumerate(sends)]
    config = GlobalConfig(limits=tuple(global_limits), min_gap=min_gap)
    subject = campaign(*own, ignore_global=ignore)
    now = T0 + max([at for _, at, _ in sends], default=0) + after
    free = limits_free_at(sent, subject, config)
    assert limit_reached(sent, subject, config, max(free, now)) is None
    if free > now:
        assert limit_reached(sent, subject, config, now) is not None
        assert limit_reached(sent, subject, config, free - 1) is not None
        assert limit_reached(sent, subject, config, (now + free) // 2) is not None


def test_the_loaded_campaign_set_reads_on_limit_and_priority():
    text = """
campaign: a
who: {on: {event: A}}
what: {title: A}
when:
  priority: 3
  limits: {on_limit: queue, max_delay: 12h}
"""
    loaded = campaigns(text).get("a").campaign
    assert (loaded.when.priority, loaded.when.limits.on_limit, loaded.when.limits.max_delay) == (3, "queue", 43200)
