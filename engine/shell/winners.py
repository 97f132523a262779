"""The A/B winner rule (`what.winner`), evaluated from a campaign's stats, for every
runtime: the embedded runtime and the Kafka decider call `decide`, keep the decision
durably and hand the core the winners as data (`CampaignSet.winners`).

Each variant's rate of clicks (or conversions) per send has a Beta(1 + successes,
1 + sends - successes) posterior (a Beta(1,1) prior). P(variant is best) is the
integral of its density times every other variant's CDF, computed by a fixed midpoint
rule over the range where the posteriors have mass: no randomness, the same figures in
every run. Once every variant has `min_sends` sends and one variant's probability
reaches `probability`, it wins, for good: the decision is never taken back (a reload
that removes the variant makes the core ignore it).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import orjson

from engine.core import CampaignSet
from engine.rules.model import Campaign
from engine.shell.step import variant_stat

GRID = 4000  # midpoints: P(best) is exact to about 1e-4, far below any threshold's meaning
SUCCESS_STAT = {"clicks": "clicked", "conversions": "conversions"}
META_PREFIX = "winner."  # where a runtime keeps a decision: winner.<campaign> -> its JSON


@dataclass(frozen=True)
class Decision:
    campaign: str
    variant: str
    at: int  # epoch ms, the runtime's clock
    metric: str
    figures: dict  # variant -> {"sends", "successes", "probability"}

    def to_json(self) -> str:
        return orjson.dumps({"campaign": self.campaign, "variant": self.variant, "at": self.at,
                             "metric": self.metric, "figures": self.figures}).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Decision":
        data = orjson.loads(raw)
        return cls(data["campaign"], data["variant"], int(data["at"]), data["metric"], data["figures"])

    def as_stats(self) -> dict:
        """How `pushcast stats` and the stats API show it."""
        return {"variant": self.variant, "at": self.at, "metric": self.metric, "figures": self.figures}


def probabilities_best(arms: list[tuple[int, int]], grid: int = GRID) -> list[float]:
    """P(each arm's rate is the highest), for arms given as (sends, successes)."""
    params = [(1 + s, 1 + max(0, n - s)) for n, s in ((n, min(s, n)) for n, s in arms)]
    lo, hi = 1.0, 0.0
    for a, b in params:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        lo, hi = min(lo, mean - 12 * sd), max(hi, mean + 12 * sd)
    lo, hi = max(0.0, lo), min(1.0, hi)
    step = (hi - lo) / grid
    xs = [lo + (k + 0.5) * step for k in range(grid)]
    masses = []
    for a, b in params:
        logs = [(a - 1) * math.log(x) + (b - 1) * math.log1p(-x) for x in xs]
        top = max(logs)
        weights = [math.exp(v - top) for v in logs]
        total = sum(weights)
        masses.append([w / total for w in weights])
    below = []  # each arm's CDF at each midpoint (half of the point's own mass: ties)
    for mass in masses:
        running, cdf = 0.0, []
        for m in mass:
            cdf.append(running + m / 2)
            running += m
        below.append(cdf)
    out = []
    for i, mass in enumerate(masses):
        p = 0.0
        for k, m in enumerate(mass):
            if m < 1e-300:
                continue
            product = m
            for j, cdf in enumerate(below):
                if j != i:
                    product *= cdf[k]
            p += product
        out.append(p)
    total = sum(out) or 1.0
    return [p / total for p in out]


def figures(campaign: Campaign, stats: dict[str, float]) -> dict:
    """{variant: {sends, successes}} of the campaign's stored stats (winner metric)."""
    success = SUCCESS_STAT[campaign.what.winner.metric]
    return {v.name: {"sends": int(round(stats.get(variant_stat(v.name, "sent"), 0))),
                     "successes": int(round(stats.get(variant_stat(v.name, success), 0)))}
            for v in campaign.what.variants}


def decide(campaign: Campaign, stats: dict[str, float], now: int) -> Decision | None:
    """The winner of this campaign now, or None (no rule, too few sends, no clear best)."""
    rule = campaign.what.winner
    if rule is None or len(campaign.what.variants) < 2:
        return None
    found = figures(campaign, stats)
    if any(f["sends"] < rule.min_sends for f in found.values()):
        return None
    names = list(found)
    chances = probabilities_best([(found[n]["sends"], found[n]["successes"]) for n in names])
    for name, chance in zip(names, chances):
        found[name]["probability"] = round(chance, 6)
    best = max(range(len(names)), key=lambda i: chances[i])
    if chances[best] < rule.probability:
        return None
    return Decision(campaign.id, names[best], now, rule.metric, found)


def undecided(campaigns: CampaignSet, decided: dict[str, "Decision"]) -> list[Campaign]:
    """The campaigns with a winner rule and no decision yet."""
    return [c.campaign for c in campaigns.by_id.values()
            if c.campaign.what.winner is not None and c.id not in decided]


def winners_of(decided: dict[str, Decision]) -> dict[str, str]:
    """The core's view: {campaign: winning variant}."""
    return {campaign: decision.variant for campaign, decision in decided.items()}


def with_judgements(campaigns: CampaignSet, decided: dict[str, Decision], guard: dict) -> CampaignSet:
    """The same campaign set carrying these winners and engagement guard verdicts
    (engine/shell/engagement.py): a shallow copy, the compiled campaigns are shared,
    the judgements are this runtime's own."""
    out = copy.copy(campaigns)
    out.winners = winners_of(decided)
    out.guard = dict(guard)
    return out


def judge(campaigns: CampaignSet, decided: dict[str, Decision], stats_of, now: int) -> list[Decision]:
    """Decide every undecided winner rule from `stats_of(campaign id)` (its stored
    counters); the new decisions are added to `decided` and returned, for the caller to
    keep durably before handing the core `with_judgements`."""
    new = []
    for campaign in undecided(campaigns, decided):
        decision = decide(campaign, stats_of(campaign.id), now)
        if decision is not None:
            decided[campaign.id] = decision
            new.append(decision)
    return new
