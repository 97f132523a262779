"""WHAT: the notification (`what`) and how success is counted (`conversion`)."""

from __future__ import annotations

import re

from engine.rules.declared import WHAT
from engine.rules.fields import At, Checker
from engine.rules.model import Action, Conversion, Message
from engine.rules.templates import Template, TemplateProblems, compile_template
from engine.rules.yamlpos import YMap

URL_FIELDS = ("url", "icon", "image", "badge")
URGENCIES = ("very-low", "low", "normal", "high")
MAX_TTL = 28 * 86400  # push services keep a message at most about four weeks
MAX_ACTIONS = 2  # what browsers show
_ACTION_ID = re.compile(r"[A-Za-z0-9_.-]+")


def read_template(ck: Checker, at: At, *, is_url: bool = False, required: bool = False) -> Template | None:
    source = ck.text(at, allow_empty=not required)
    if source is None:
        return None
    try:
        return compile_template(source, at.path, is_url=is_url, required=required, campaign=ck.campaign)
    except TemplateProblems as exc:
        for offset, message in exc.problems:
            ck.error(ck.locate(at, offset), at.path, message)
        return None


def read_what(ck: Checker, at: At) -> Message | None:
    variants = isinstance(at.value, YMap) and "variants" in at.value
    # With variants, the title may come from each variant instead of the base.
    if not ck.mapping(at, WHAT.names, () if variants else ("title",), example=WHAT.example):
        return None
    base = read_message_fields(ck, at)
    if base is None:
        return None
    if not variants:
        for key in ("control", "winner"):
            if key in at.value:
                ck.error(at.key_pos(key), f"{at.path}.{key}", "needs `variants`: a control or a winner is "
                                                            "about variants of the message")
        if not declarative_has_url(ck, at, base):
            return None
        return Message(**base) if "title" in base else None
    from engine.rules.variants import read_variant_section  # the variants reader builds on this module
    return read_variant_section(ck, at, base)


def read_message_fields(ck: Checker, at: At) -> dict | None:
    """The message keys present at `at` (a mapping already checked) as `Message` fields
    (the absent ones are left out: a variant inherits them, a base takes the defaults);
    None after recording a problem."""
    m = at.value
    ok = True
    fields: dict = {}
    for key in ("title", "body", "tag", *URL_FIELDS):
        if key in m:
            fields[key] = read_template(ck, at.child(key), is_url=key in URL_FIELDS, required=key == "title")
            ok = ok and fields[key] is not None
    if "ttl" in m:
        fields["ttl"] = ck.duration(at.child("ttl"), maximum=MAX_TTL, why_max="push services keep messages at most 28 days")
    if "urgency" in m:
        fields["urgency"] = ck.choice(at.child("urgency"), URGENCIES)
    if "require_interaction" in m:
        fields["require_interaction"] = ck.boolean(at.child("require_interaction"))
    if "actions" in m:
        fields["actions"] = read_actions(ck, at.child("actions"))
    if "declarative" in m:
        fields["declarative"] = ck.boolean(at.child("declarative"))
    if not ok or None in fields.values():
        return None
    return fields


def declarative_has_url(ck: Checker, at: At, merged: dict) -> bool:
    """A declarative message's `navigate` is required: Safari opens it on a click."""
    if merged.get("declarative") and "url" not in merged:
        ck.error(at.key_pos("declarative") if "declarative" in at.value else at.pos, at.path + ".declarative",
                 'needs "url": the page Safari opens on a click')
        return False
    return True


def read_actions(ck: Checker, at: At) -> tuple[Action, ...] | None:
    if not ck.sequence(at, example="[{title: Checkout, url: https://shop.example/checkout}]"):
        return None
    ok = True
    actions: list[Action] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(at.items()):
        if index == MAX_ACTIONS:
            ck.error(item.pos, item.path, f"at most {MAX_ACTIONS} actions: browsers show two buttons")
            return None
        if not ck.mapping(item, ("title", "url", "action"), ("title", "url")):
            ok = False
            continue
        m = item.value
        title = read_template(ck, item.child("title"), required=True) if "title" in m else None
        url = read_template(ck, item.child("url"), is_url=True) if "url" in m else None
        action_id = f"action-{index + 1}"
        if "action" in m:
            action_at = item.child("action")
            action_id = ck.text(action_at)
            if action_id is not None and not _ACTION_ID.fullmatch(action_id):
                ck.error(action_at.pos, action_at.path, f'expected an id of letters, digits, "-", "_" or ".", got "{action_id}"')
                action_id = None
            if action_id is not None and action_id in seen:
                ck.error(action_at.pos, action_at.path, f'"{action_id}" is already the id of {seen[action_id]}')
                action_id = None
        if title is None or url is None or action_id is None:
            ok = False
            continue
        seen[action_id] = item.path
        actions.append(Action(title, url, action_id))
    return tuple(actions) if ok else None


def read_conversion(ck: Checker, at: At) -> Conversion | None:
    if not ck.mapping(at, ("event", "within", "revenue"), ("event", "within"), example="{event: Charged, within: 1d}"):
        return None
    m = at.value
    event = ck.text(at.child("event")) if "event" in m else None
    within = ck.duration(at.child("within"), minimum=1) if "within" in m else None
    revenue = ck.text(at.child("revenue")) if "revenue" in m else None
    if event is None or within is None or ("revenue" in m and revenue is None):
        return None
    return Conversion(event, within, revenue)
