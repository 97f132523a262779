"""The loaded campaign set, compiled once and indexed by event name for the hot path."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from engine.core.localtime import zone
from engine.core.segments import SegmentCheck, SegmentVerdict, collect_dids, compile_segment, compile_verdict
from engine.core.waits import wait_props
from engine.rules.model import Campaign, GlobalConfig
from engine.rules.predicates import Predicate, compile_filter
from engine.windows.aggregates import CounterSpec, build_counter_specs


@dataclass
class CompiledCampaign:
    campaign: Campaign
    trigger_matches: Predicate
    segment: SegmentCheck
    wait_props: frozenset[str] | None = None  # what its waits keep of the trigger's props; None: all
    # None when the user is in the segment, else which condition failed (code, seen): one pass
    segment_verdict: SegmentVerdict | None = None

    @property
    def id(self) -> str:
        return self.campaign.id


class CampaignSet:
    """Campaigns plus the global config, with the indexes the core looks up per event."""

    def __init__(self, campaigns: tuple[Campaign, ...] | list[Campaign], config: GlobalConfig | None = None):
        self.config = config or GlobalConfig()
        # Decided A/B winners {campaign id: variant}: data the shell evaluates and keeps
        # (engine/shell/winners.py); a runtime hands the same dict to every reloaded set.
        self.winners: dict[str, str] = {}
        # The engagement guard's verdicts {campaign id or "*": Verdict}, the same way
        # (engine/shell/engagement.py judges them; engine/core/guard.py applies them).
        self.guard: dict = {}
        self.default_zone = zone(self.config.timezone)
        self.by_id: dict[str, CompiledCampaign] = {}
        self.triggered_by: dict[str, list[CompiledCampaign]] = defaultdict(list)
        self.cancelled_by: dict[str, list[CompiledCampaign]] = defaultdict(list)
        self.converted_by: dict[str, list[CompiledCampaign]] = defaultdict(list)
        dids = []
        for campaign in campaigns:
            trigger = campaign.trigger
            compiled = CompiledCampaign(
                campaign,
                compile_filter(trigger.where) if trigger else (lambda props: True),
                compile_segment(campaign.segment),
                wait_props(campaign),
                compile_verdict(campaign.segment),
            )
            self.by_id[campaign.id] = compiled
            if trigger is not None:
                self.triggered_by[trigger.event].append(compiled)
            if campaign.unless is not None:
                self.cancelled_by[campaign.unless.event].append(compiled)
            if campaign.conversion is not None:
                self.converted_by[campaign.conversion.event].append(compiled)
            dids.extend(collect_dids(campaign.segment))
        self.counters: dict[str, CounterSpec] = build_counter_specs(dids)
        self.counters_by_event: dict[str, list[CounterSpec]] = defaultdict(list)
        for spec in self.counters.values():
            self.counters_by_event[spec.event].append(spec)
        self.history_horizon_ms, self.history_horizon_by_campaign = self._history_horizons(campaigns)
        # Each user's best hour is learned only while a campaign reads it (state stays small).
        self.learns_best_time = any(c.when.best_time is not None for c in campaigns)
        # Event names the core must look at beyond the profile/system events.
        self.interesting = set(self.triggered_by) | set(self.cancelled_by) | set(self.converted_by) | set(self.counters_by_event)

    def _history_horizons(self, campaigns) -> tuple[int, dict[str, int]]:
        """How long a send is kept (ms): as long as a global limit, its campaign's own
        limits or its conversion window can read it. Returns the shortest of these over
        all campaigns (sends younger than it are always kept) and each campaign's own."""
        global_span = max([limit.per for limit in self.config.limits] + [self.config.min_gap])
        own: dict[str, int] = {}
        for campaign in campaigns:
            spans = [global_span] + [limit.per for limit in campaign.when.limits.per_user]
            if campaign.conversion is not None:
                spans.append(campaign.conversion.within)
            own[campaign.id] = max(spans) * 1000
        return min(own.values(), default=global_span * 1000), own

    def get(self, campaign_id: str) -> CompiledCampaign | None:
        return self.by_id.get(campaign_id)

    @property
    def campaigns(self) -> list[Campaign]:
        return [c.campaign for c in self.by_id.values()]
