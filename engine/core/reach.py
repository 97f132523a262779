"""Estimate reach: does a user qualify for a campaign now, and can we reach them?"""

from __future__ import annotations

from engine.core.campaigns import CampaignSet, CompiledCampaign
from engine.core.delivery import is_test_profile
from engine.core.state import UserState


def reach_of(state: UserState, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> tuple[bool, bool]:
    """(qualifies, reachable): the segment holds now; and the user has a live push
    subscription and is not a test profile."""
    if not compiled.segment(state.profile, state.counters, now):
        return False, False
    return True, bool(state.subscriptions) and not is_test_profile(state, campaigns)


def count_reach(states, compiled: CompiledCampaign, now: int, campaigns: CampaignSet) -> tuple[int, int]:
    """Sum over user states: (qualified users, reachable users)."""
    qualified = reachable = 0
    for state in states:
        q, r = reach_of(state, compiled, now, campaigns)
        qualified += q
        reachable += r
    return qualified, reachable
