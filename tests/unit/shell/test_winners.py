"""The A/B winner rule: deterministic P(best), the decision, and how stats show it."""

from math import exp, lgamma, log

from engine.shell.metrics import embedded_metrics, worker_metrics
from engine.shell.stats import campaign_stats, format_table
from engine.shell.winners import Decision, decide, probabilities_best, with_judgements
from tests.unit.core_helpers import campaigns

AB = """
campaign: ab
who: {on: {event: Viewed}}
what:
  title: hi
  variants: [{name: a}, {name: b, title: ho}]
  winner: {metric: clicks, min_sends: 100, probability: 0.95}
"""


def _log_beta(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def exact_b_beats_a(a_arm, b_arm):
    """Closed form of P(p_b > p_a) for Beta posteriors with integer parameters."""
    (na, sa), (nb, sb) = a_arm, b_arm
    alpha_a, beta_a, alpha_b, beta_b = 1 + sa, 1 + na - sa, 1 + sb, 1 + nb - sb
    return sum(exp(_log_beta(alpha_a + i, beta_a + beta_b) - log(beta_b + i) - _log_beta(1 + i, beta_b)
                   - _log_beta(alpha_a, beta_a)) for i in range(alpha_b))


def test_probability_best_matches_the_closed_form_for_two_arms():
    for a_arm, b_arm in [((100, 10), (100, 20)), ((3, 0), (3, 3)), ((1000, 52), (1000, 60)), ((40, 9), (35, 7))]:
        got = probabilities_best([a_arm, b_arm])
        assert abs(got[1] - exact_b_beats_a(a_arm, b_arm)) < 1e-4
        assert abs(sum(got) - 1) < 1e-9


def test_probability_best_is_symmetric_and_repeatable():
    assert probabilities_best([(50, 5), (50, 5), (50, 5)]) == probabilities_best([(50, 5), (50, 5), (50, 5)])
    assert all(abs(p - 1 / 3) < 1e-6 for p in probabilities_best([(50, 5), (50, 5), (50, 5)]))


def test_no_winner_before_min_sends_or_below_the_probability():
    campaign = campaigns(AB).get("ab").campaign
    few = {"variant.a.sent": 99, "variant.a.clicked": 0, "variant.b.sent": 200, "variant.b.clicked": 100}
    assert decide(campaign, few, 1) is None
    close = {"variant.a.sent": 100, "variant.a.clicked": 10, "variant.b.sent": 100, "variant.b.clicked": 12}
    assert decide(campaign, close, 1) is None


def test_a_clear_winner_is_decided_with_its_figures():
    campaign = campaigns(AB).get("ab").campaign
    stats = {"variant.a.sent": 100, "variant.a.clicked": 10, "variant.b.sent": 100, "variant.b.clicked": 25}
    decision = decide(campaign, stats, 1234)
    assert (decision.campaign, decision.variant, decision.at, decision.metric) == ("ab", "b", 1234, "clicks")
    assert decision.figures["a"]["sends"] == 100 and decision.figures["b"]["successes"] == 25
    assert decision.figures["b"]["probability"] >= 0.95
    assert Decision.from_json(decision.to_json()) == decision


def test_winners_go_to_a_copy_of_the_campaign_set():
    cs = campaigns(AB)
    decision = Decision("ab", "b", 1, "clicks", {})
    won = with_judgements(cs, {"ab": decision}, {})
    assert won.winners == {"ab": "b"} and cs.winners == {} and won.by_id is cs.by_id


def test_stats_show_variants_control_and_winner():
    stored = {"qualified": 5, "sent": 3, "variant.a.qualified": 2, "variant.a.sent": 2, "variant.a.clicked": 1,
              "variant.b.qualified": 1, "variant.b.sent": 1, "variant.b.revenue": 12.5, "variant.b.conversions": 1,
              "control.holdout.qualified": 2, "control.holdout.held_out": 2, "control.holdout.conversions": 1}
    winner = Decision("ab", "a", 0, "clicks", {"a": {"sends": 2, "successes": 1, "probability": 0.97},
                                               "b": {"sends": 1, "successes": 0, "probability": 0.03}}).as_stats()
    stats = campaign_stats("ab", stored, winner)
    assert stats["variants"]["a"] == {"qualified": 2, "sent": 2, "delivered": 0, "shown": 0, "clicked": 1,
                                      "conversions": 0, "revenue": 0.0}
    assert stats["variants"]["b"]["revenue"] == 12.5
    assert stats["control"] == {"name": "holdout", "qualified": 2, "held_out": 2, "conversions": 1, "revenue": 0.0}
    assert stats["winner"]["variant"] == "a"
    table = format_table([stats])
    assert "holdout (control)" in table and "winner ab: a at 1970-01-01" in table and "a 1/2 P=0.970" in table
    assert "variants" not in campaign_stats("plain", {"sent": 1})


def test_both_runtimes_export_variant_metrics_under_the_same_names():
    for metrics in (embedded_metrics(), worker_metrics()):
        metrics.counted({("ab", "variant.a.sent"): 2, ("ab", "control.holdout.held_out"): 1,
                         ("ab", "variant.b.revenue"): 4.5, ("ab", "sent"): 2})
        value = metrics.registry.get_sample_value
        assert value("pushcast_variant_events_total", {"campaign": "ab", "variant": "a", "stat": "sent"}) == 2
        assert value("pushcast_variant_events_total", {"campaign": "ab", "variant": "holdout", "stat": "held_out"}) == 1
        assert value("pushcast_variant_revenue_total", {"campaign": "ab", "variant": "b"}) == 4.5
        assert value("pushcast_notifications_sent_total", {"campaign": "ab", "test": "false"}) == 2
