"""The fast path for simple templates renders exactly what Liquid renders."""

import copy

from hypothesis import given, settings, strategies as st

from engine.rules.errors import RenderError
from engine.rules.templates import Template, simple_parts

names = st.sampled_from(["name", "product", "cart_id", "n"])
values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8), st.sampled_from(["c 9/x&y", "https://img.example/a b.png", "ü✈️", "", "a\ue000b\ue001c\ue002"]),
    st.lists(st.text(max_size=3), max_size=2),
)
defaults = st.one_of(st.just(""), st.sampled_from([" | default: 'your cart'", ' | default: "x/y"', " | default: 0",
                                                   " | default: ''", "|default:'z'", " | default: 'https://d.example/a.png'"]))
outputs = st.builds(lambda root, name, d: f"{{{{ {root}.{name}{d} }}}}", st.sampled_from(["profile", "event"]), names, defaults)
literals = st.sampled_from(["Hi ", "!", " about ", "/c/", "?q=", "", " 🎉 "])
url_literals = st.sampled_from(["/c/", "?q=", "&a=", "", "x", "#top"])


def render_both(source: str, is_url: bool, profile: dict, event: dict):
    fast = Template(source, "what.x", is_url=is_url)
    slow = copy.copy(fast)
    object.__setattr__(slow, "_simple", None)
    results = []
    for template in (fast, slow):
        try:
            results.append(template.render(profile, event))
        except RenderError:
            results.append(RenderError)
    return fast, results


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.one_of(literals, outputs), min_size=1, max_size=5),
       profile=st.dictionaries(names, values, max_size=4), event=st.dictionaries(names, values, max_size=4))
def test_text_fields_match_liquid(parts, profile, event):
    source = "".join(parts)
    fast, (got, want) = render_both(source, False, profile, event)
    assert got == want, source


@settings(max_examples=400, deadline=None)
@given(head=st.sampled_from(["https://shop.example/cart/", ""]), parts=st.lists(st.one_of(url_literals, outputs), max_size=4),
       profile=st.dictionaries(names, values, max_size=4), event=st.dictionaries(names, values, max_size=4))
def test_url_fields_match_liquid(head, parts, profile, event):
    source = head + "".join(parts) or "https://x.example/"
    if not head and not source.lstrip().startswith("{{"):
        source = "https://x.example/" + source
    fast, (got, want) = render_both(source, True, profile, event)
    assert got == want, source


def test_values_after_a_literal_url_take_the_component_path():
    assert Template("https://shop.example/cart/{{ event.cart_id }}?u={{ profile.n }}", "what.url", is_url=True)._after_literal
    assert not Template("{{ event.image_url | default: 'https://x.example/a.png' }}", "what.url", is_url=True)._after_literal
    assert not Template("https://shop.example/{{ event.cart_id }} x", "what.url", is_url=True)._after_literal
    image = Template("{{ event.image_url | default: 'https://x.example/a b.png' }}", "what.image", is_url=True)
    assert image._default_url == "https://x.example/a%20b.png" == image.render({}, {"image_url": ""})


def test_only_plain_outputs_take_the_fast_path():
    assert simple_parts("Hi {{ profile.name | default: 'there' }}!") == ["Hi ", ("profile", "name", "there"), "!"]
    assert simple_parts("{{ event.price | times: 2 }}") is None
    assert simple_parts("{% if profile.vip %}VIP{% endif %}") is None
    assert simple_parts("{{ event.a.b }}") is None
