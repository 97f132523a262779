"""Liquid templates: load-time checks with positions, strict rendering, URL escaping."""

from __future__ import annotations

import pytest

from engine.rules.errors import ConfigError, PushcastError, RenderError
from engine.rules.loader import parse_campaign
from engine.rules.templates import TemplateProblems, compile_template


def text(source: str, **kw):
    return compile_template(source, "what.body", **kw)


def url(source: str):
    return compile_template(source, "what.url", is_url=True)


def load_problems(what_lines: str) -> list[str]:
    source = f"campaign: cart\nwho: {{on: Added To Cart}}\nwhat:\n{what_lines}"
    with pytest.raises(ConfigError) as raised:
        parse_campaign(source, "c.yaml")
    return [str(p) for p in raised.value.problems]


# --- load time -----------------------------------------------------------------------


def test_liquid_syntax_error_points_into_the_template():
    assert load_problems('  title: "Hi {{ profile.name | default: \'x\' "\n') == [
        "c.yaml:4:14: campaign \"cart\", what.title: template syntax error: expected '}}', found end of file"]


def test_syntax_error_in_a_block_scalar_points_at_the_value():
    problems = load_problems("  title: Hi\n  body: >\n    Hello\n    {% if event.x %}\n")
    assert len(problems) == 1 and problems[0].startswith("c.yaml:5:9: ")  # multi-line: the value's start
    assert "template syntax error" in problems[0]


def test_unknown_variable_roots_are_refused_with_their_column():
    assert load_problems('  title: "{{ event.product }} for {{ user.name }}"\n') == [
        'c.yaml:4:38: campaign "cart", what.title: unknown variable "user.name"; '
        "templates can read profile.* and event.* (the event's props)"]


def test_loop_and_assigned_variables_are_not_unknown():
    t = text("{% assign n = event.items | size %}{% for i in event.items %}{{ i }}{% endfor %} ({{ n }})")
    assert t.render({}, {"items": ["a", "b"]}) == "ab (2)"


def test_unknown_filter_and_partials_are_load_time_errors():
    with pytest.raises(TemplateProblems, match='unknown filter "shout"'):
        text("{{ event.x | shout }}")
    with pytest.raises(TemplateProblems, match="unexpected tag 'include'"):
        text("{% include 'footer' %}")


def test_every_template_problem_of_a_campaign_is_reported():
    problems = load_problems('  title: "{{ event.a | nope }}"\n  body: "{{ who.x }}"\n  url: "ftp://x/{{ event.id }}"\n')
    assert [p.split(": ")[1] for p in problems] == [
        'campaign "cart", what.title', 'campaign "cart", what.body', 'campaign "cart", what.url']


# --- send time: missing values and defaults ------------------------------------------


def test_missing_value_without_default_is_a_render_error_naming_field_and_variable():
    t = compile_template("Still thinking about {{ event.product }}?", "what.title", required=True, campaign="cart")
    with pytest.raises(RenderError) as raised:
        t.render({}, {})
    error = raised.value
    assert str(error) == 'what.title: "event.product" is missing and has no default'
    assert (error.field, error.variable, error.campaign) == ("what.title", "event.product", "cart")
    assert isinstance(error, PushcastError)


def test_null_is_as_missing_as_absent():
    with pytest.raises(RenderError, match='"event.product" is missing'):
        text("{{ event.product }}").render({}, {"product": None})


def test_default_filter_fills_missing_and_null_values():
    t = text("Hi {{ profile.name | default: 'there' }}, {{ event.product | default: 'your cart' }}")
    assert t.render({}, {"product": None}) == "Hi there, your cart"
    assert t.render({"name": "Asha"}, {"product": "shoes"}) == "Hi Asha, shoes"


def test_missing_values_are_false_in_conditions():
    t = text("{% if event.coupon %}Use {{ event.coupon }}{% else %}No coupon{% endif %}")
    assert t.render({}, {}) == "No coupon"
    assert t.render({}, {"coupon": "XMAS"}) == "Use XMAS"


def test_nested_missing_value_names_the_missing_part():
    with pytest.raises(RenderError) as raised:
        text("{{ profile.address.city }}").render({}, {})
    assert raised.value.variable == "profile.address"


def test_a_title_never_renders_empty():
    t = compile_template("{{ event.name | default: '' }}", "what.title", required=True)
    with pytest.raises(RenderError, match="rendered empty"):
        t.render({}, {})


def test_filter_failures_are_render_errors_not_crashes():
    with pytest.raises(RenderError, match="divide"):
        text("{{ event.n | divided_by: 0 }}").render({}, {"n": 3})


def test_emoji_and_non_latin_text_pass_through():
    t = text("🛒 {{ event.product }} — ¡{{ profile.name }}! 🎉")
    assert t.render({"name": "Zoë"}, {"product": "जूते"}) == "🛒 जूते — ¡Zoë! 🎉"


def test_text_is_not_html_escaped():
    assert text("{{ event.q }}").render({}, {"q": "Tom & Jerry <3"}) == "Tom & Jerry <3"


def test_numbers_render_plainly():
    assert text("{{ event.price }} / {{ event.n }}").render({}, {"price": 89.5, "n": 3}) == "89.5 / 3"


def test_constant_text_renders_without_liquid():
    assert text("Plain words").render({}, {}) == "Plain words"


# --- URLs ------------------------------------------------------------------------------


def test_value_inside_a_url_is_percent_encoded_as_a_component():
    t = url("https://shop.example/cart/{{ event.cart_id }}?utm_source=push")
    assert t.render({}, {"cart_id": "c 9/x&y"}) == "https://shop.example/cart/c%209%2Fx%26y?utm_source=push"


def test_query_values_cannot_inject_parameters():
    t = url("https://shop.example/s?q={{ event.q }}&ref=push")
    assert t.render({}, {"q": "shoes&admin=1#x"}) == "https://shop.example/s?q=shoes%26admin%3D1%23x&ref=push"


def test_a_value_that_is_the_whole_url_passes_when_http():
    t = url("{{ event.image_url }}")
    assert t.render({}, {"image_url": "https://cdn.example/p/1.png?w=200"}) == "https://cdn.example/p/1.png?w=200"
    assert t.render({}, {"image_url": "https://cdn.example/a b/é.png"}) == "https://cdn.example/a%20b/%C3%A9.png"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "data:text/html,x", "//evil.example", "shop.example/x", ""])
def test_a_value_that_is_the_whole_url_must_be_http(bad):
    with pytest.raises(RenderError, match="not an http\\(s\\) URL"):
        url("{{ event.image_url }}").render({}, {"image_url": bad})


def test_whole_url_value_followed_by_components():
    t = url("{{ event.base }}/p/{{ event.id }}")
    assert t.render({}, {"base": "https://shop.example", "id": "a/b"}) == "https://shop.example/p/a%2Fb"


def test_url_encode_and_url_path_filters_are_not_encoded_twice():
    assert url("https://x.example/s?q={{ event.q | url_encode }}").render({}, {"q": "a b"}) == "https://x.example/s?q=a%20b"
    assert url("https://x.example/{{ event.p | url_path }}").render({}, {"p": "shoes/trail 1"}) == "https://x.example/shoes/trail%201"


def test_url_chosen_by_a_condition():
    t = url("{% if event.vip %}https://vip.example/{% else %}https://shop.example/{% endif %}{{ event.id }}")
    assert t.render({}, {"id": "a b"}) == "https://shop.example/a%20b"
    assert t.render({}, {"id": "x", "vip": True}) == "https://vip.example/x"


def test_url_default_can_be_a_whole_url():
    t = url("{{ profile.avatar | default: 'https://cdn.example/default.png' }}")
    assert t.render({}, {}) == "https://cdn.example/default.png"


def test_sentinel_characters_in_values_cannot_confuse_the_escaper():
    t = url("https://x.example/{{ event.p }}")
    assert t.render({}, {"p": "\ue001\ue000x"}) == "https://x.example/x"


@pytest.mark.parametrize("source", ["javascript:alert(1)", "/cart", "shop.example/{{ event.id }}", "ftp://x.example/f"])
def test_literal_urls_must_be_http_at_load_time(source):
    with pytest.raises(TemplateProblems):
        url(source)


def test_missing_value_in_a_url_is_a_render_error():
    with pytest.raises(RenderError, match='"event.cart_id" is missing'):
        url("https://shop.example/cart/{{ event.cart_id }}").render({}, {})


def test_templates_compare_by_source():
    assert text("Hi {{ event.x }}") == text("Hi {{ event.x }}")
    assert text("Hi {{ event.x }}") != text("Hi {{ event.y }}")


# --- robustness ------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LIQUIDISH = st.text(alphabet="{}%|.:'\" aeventprofil_xdfu/h", max_size=40)
_PROPS = st.dictionaries(st.sampled_from(["a", "x", "id", "e"]),
                         st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)))


@settings(max_examples=400, deadline=None)
@given(source=_LIQUIDISH, is_url=st.booleans(), event=_PROPS, profile=_PROPS)
def test_any_text_compiles_or_is_refused_and_renders_or_raises_render_error(source, is_url, event, profile):
    try:
        t = compile_template(source, "what.body", is_url=is_url)
    except TemplateProblems as problems:
        assert problems.problems and all(offset >= 0 for offset, _ in problems.problems)
        return
    try:
        out = t.render(profile, event)
    except RenderError:
        return
    assert isinstance(out, str)
    assert not any(c in out for c in "\ue000\ue001\ue002")
