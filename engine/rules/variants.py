"""`what.variants`, `what.control` and `what.winner`: A/B variants of a campaign's message.

Each variant names the `what` keys it changes; the rest comes from the base `what`, so
the merged message of every variant is built here, once, at load time.
"""

from __future__ import annotations

import re
from dataclasses import replace

from engine.rules.fields import At, Checker
from engine.rules.model import Control, Message, Variant, WinnerRule
from engine.rules.declared import CONTROL, VARIANT, WINNER
from engine.rules.what import declarative_has_url, read_message_fields

WINNER_METRICS = ("clicks", "conversions")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_VARIANT_EXAMPLE = "[{name: a, title: Still thinking?}, {name: b, title: Your cart misses you}]"


def read_variant_section(ck: Checker, at: At, base: dict) -> Message | None:
    """The base message with its variants, control and winner rule (`at` is `what`)."""
    m = at.value
    variants = read_variants(ck, at.child("variants"), base)
    control = read_control(ck, at.child("control")) if "control" in m else None
    winner = read_winner(ck, at.child("winner")) if "winner" in m else None
    if variants is None or ("control" in m and control is None) or ("winner" in m and winner is None):
        return None
    if control is not None and control.name in {v.name for v in variants}:
        ck.error(at.child("control").pos, f"{at.path}.control.name",
                 f'"{control.name}" is already a variant\'s name: name the control apart')
        return None
    # The base without a title of its own renders as the first variant (a test send).
    message = variants[0].what if "title" not in base else Message(**base)
    return replace(message, variants=variants, control=control, winner=winner)


def read_variants(ck: Checker, at: At, base: dict) -> tuple[Variant, ...] | None:
    if not ck.sequence(at, example=_VARIANT_EXAMPLE):
        return None
    if len(at.value) < 2:
        ck.error(at.pos, at.path, f"needs at least two variants, like {_VARIANT_EXAMPLE}")
        return None
    out: list[Variant] = []
    seen: dict[str, int] = {}
    ok = True
    for item in at.items():
        variant = read_variant(ck, item, base)
        if variant is None:
            ok = False
            continue
        if variant.name in seen:
            ck.error(item.child("name").pos, item.path + ".name",
                     f'"{variant.name}" is already the name of the variant at line {seen[variant.name]}')
            ok = False
            continue
        seen[variant.name] = item.pos.line
        out.append(variant)
    return tuple(out) if ok else None


def read_variant(ck: Checker, at: At, base: dict) -> Variant | None:
    if not ck.declared(at, VARIANT):
        return None
    m = at.value
    name = read_slug(ck, at.child("name")) if "name" in m else None
    weight = read_weight(ck, at.child("weight")) if "weight" in m else 1.0
    own = read_message_fields(ck, at)
    if name is None or weight is None or own is None:
        return None
    merged = {**base, **own}
    if not declarative_has_url(ck, at, merged):
        return None
    if "title" not in merged:
        ck.error(at.pos, at.path, f'variant "{name}" has no title: give it a `title`, or give `what` one '
                                  "that every variant inherits")
        return None
    return Variant(name, weight, Message(**merged))


def read_control(ck: Checker, at: At) -> Control | None:
    if not ck.declared(at, CONTROL):
        return None
    m = at.value
    name = read_slug(ck, at.child("name")) if "name" in m else "control"
    weight = read_weight(ck, at.child("weight")) if "weight" in m else None
    if name is None or weight is None:
        return None
    return Control(name, weight)


def read_winner(ck: Checker, at: At) -> WinnerRule | None:
    if not ck.declared(at, WINNER):
        return None
    m = at.value
    metric = ck.choice(at.child("metric"), WINNER_METRICS) if "metric" in m else None
    min_sends = ck.integer(at.child("min_sends"), minimum=1) if "min_sends" in m else None
    probability = 0.95
    if "probability" in m:
        prob_at = at.child("probability")
        probability = ck.number(prob_at, minimum=0.5)
        if probability is not None and probability >= 1:
            ck.error(prob_at.pos, prob_at.path, f"must be below 1 (certainty never comes), got {probability:g}")
            probability = None
    if metric is None or min_sends is None or probability is None:
        return None
    return WinnerRule(metric, min_sends, float(probability))


def read_slug(ck: Checker, at: At) -> str | None:
    name = ck.text(at)
    if name is not None and not _SLUG.fullmatch(name):
        ck.error(at.pos, at.path, f'expected a short name of lowercase letters, digits, "-" or "_" like b or '
                                  f'short-title, got "{name}"')
        return None
    return name


def read_weight(ck: Checker, at: At) -> float | None:
    weight = ck.number(at)
    if weight is not None and weight <= 0:
        ck.error(at.pos, at.path, f"must be above 0 (a share of the traffic), got {weight:g}")
        return None
    return None if weight is None else float(weight)
