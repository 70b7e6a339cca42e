"""Rendering one email: parts, layout, links, tracking, CSS and the text part. No database."""

import random
import re
from pathlib import Path
from urllib.parse import urlsplit

import hypothesis
import pytest
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from campaigns.rendering import (
    RenderFailed,
    composed,
    links_in,
    render_email,
    sample_context,
    template_check,
)
from campaigns.rendering import render as render_module
from campaigns.rendering.environment import compiled
from campaigns.rendering.limits import MAX_SUBJECT_CHARS
from campaigns.rendering.links import WEB_SCHEMES, scheme_of, web_link
from campaigns.rendering.text import text_template_from_html
from tests.campaigns.samples import NEWSLETTER_HTML, newsletter_kwargs

UNSUBSCRIBE = "https://ladder.example.com/u/token"
PREFERENCES = "https://ladder.example.com/p/token"


def render(html="<p>Hello {{ customer.first_name }}</p>", **overrides):
    kwargs = {
        "subject": "Hello",
        "preheader": "",
        "html": html,
        "text": "",
        "context": sample_context(),
        "unsubscribe_url": UNSUBSCRIBE,
        "preferences_url": PREFERENCES,
        **overrides,
    }
    return render_email(**kwargs)


def tracked(url):
    return "https://ladder.example.com/t/c/" + url


def test_it_renders_the_personalized_parts():
    email = render(
        subject="{{ customer.first_name }}, hello", html="<p>Hi {{ customer.full_name }}</p>"
    )

    assert email.subject == "Ada, hello"
    assert "<p>Hi Ada Lovelace</p>" in email.html
    assert "Hi Ada Lovelace" in email.text


def test_it_strips_line_breaks_from_the_subject():
    context = {**sample_context(), "customer": {"first_name": "Ada\r\nBcc: all@example.com"}}

    email = render(subject="Hi {{ customer.first_name }}\n!", context=context)

    assert email.subject == "Hi Ada Bcc: all@example.com !"


def test_it_caps_the_subject_length():
    assert len(render(subject="x" * 1000).subject) == MAX_SUBJECT_CHARS


def test_it_escapes_html_in_the_body_but_not_in_subject_or_text():
    context = {**sample_context(), "customer": {"first_name": "<b>Ada</b> & co"}}

    email = render(
        subject="{{ customer.first_name }}",
        html="<p>{{ customer.first_name }}</p>",
        text="{{ customer.first_name }}",
        context=context,
    )

    assert email.subject == "<b>Ada</b> & co"
    assert "<p>&lt;b&gt;Ada&lt;/b&gt; &amp; co</p>" in email.html
    assert email.text.startswith("<b>Ada</b> & co")


def test_it_renders_none_and_missing_attributes_as_empty():
    context = sample_context()
    context["customer"]["metrics"]["last_purchase_at"] = None

    email = render(
        html="<p>[{{ customer.metrics.last_purchase_at }}][{{ customer.attributes.nickname }}]</p>",
        context=context,
    )

    assert "<p>[][]</p>" in email.html


def test_it_adds_the_footer_with_unsubscribe_preferences_and_postal_address(settings):
    settings.LADDER_POSTAL_ADDRESS = "Example Shop Ltd\n1 Main Street, Springfield"

    email = render()

    assert f'href="{UNSUBSCRIBE}"' in email.html
    assert f'href="{PREFERENCES}"' in email.html
    assert "Example Shop Ltd<br>1 Main Street, Springfield" in email.html
    assert f"Unsubscribe: {UNSUBSCRIBE}" in email.text
    assert f"Email preferences: {PREFERENCES}" in email.text
    assert "Example Shop Ltd\n1 Main Street, Springfield" in email.text


def test_it_leaves_the_address_out_when_none_is_set(settings):
    del settings.LADDER_POSTAL_ADDRESS

    assert render().text.endswith(f"Email preferences: {PREFERENCES}")


def test_it_puts_the_preheader_in_hidden_preview_text():
    email = render(preheader="Only {{ customer.metrics.orders_count }} days left & more")

    preview = re.search(r'<div class="ladder-preheader"[^>]*>(.*?)</div>', email.html)
    assert preview is not None
    assert "display:none" in preview.group(0)
    assert preview.group(1).startswith("Only 3 days left &amp; more")


def test_it_tracks_web_links_but_not_mailto_unsubscribe_preferences_or_notrack():
    html = """
      <a href="https://shop.example.com/a?x=1&amp;y=2">a</a>
      <a href="mailto:help@example.com">mail</a>
      <a href="{{ unsubscribe_url }}">unsubscribe</a>
      <a href="{{ preferences_url }}">preferences</a>
      <a href="https://shop.example.com/terms" data-ladder-notrack>terms</a>
      <a href="#top">top</a>
    """

    email = render(html=html, track_link=tracked)

    assert links_in(email.html) == [
        tracked("https://shop.example.com/a?x=1&y=2"),
        UNSUBSCRIBE,
        PREFERENCES,
        "https://shop.example.com/terms",
    ]
    assert 'href="mailto:help@example.com"' in email.html
    assert 'href="#top"' in email.html
    assert "data-ladder-notrack" not in email.html


def test_it_keeps_the_text_part_links_untracked():
    email = render(html='<a href="https://shop.example.com/a">a</a>', track_link=tracked)

    assert "[a](https://shop.example.com/a)" in email.text


def test_it_appends_the_open_pixel_at_the_end_of_the_body():
    email = render(open_pixel_url="https://ladder.example.com/t/o/token.gif")

    pixel = email.html.index('<img src="https://ladder.example.com/t/o/token.gif"')
    assert 'width="1" height="1"' in email.html[pixel:]
    assert email.html.index("</body>") > pixel > email.html.index("Unsubscribe")


def test_it_adds_no_pixel_without_a_url():
    assert "<img" not in render().html


@pytest.mark.parametrize(
    "html",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href=" java\tscript:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<img src="data:image/png;base64,AAAA">',
        '<img srcset="https://cdn.example.com/a.png 1x, data:image/png;base64,AAAA 2x">',
        '<a href="file:///etc/passwd">x</a>',
        '<form action="javascript:alert(1)"></form>',
        '<a href="{{ customer.attributes.site }}">x</a>',
    ],
)
def test_it_fails_links_with_other_schemes(html):
    context = sample_context()
    context["customer"]["attributes"]["site"] = "javascript:alert(document.cookie)"

    with pytest.raises(RenderFailed, match=r"only http, https, mailto links are allowed") as failed:
        render(html=html, context=context)

    assert failed.value.part == "html"
    assert re.search(r"(javascript|vbscript|data|file):", str(failed.value))


def test_it_fails_a_forbidden_link_in_the_text_part():
    with pytest.raises(RenderFailed, match=r"text: link 'javascript:alert\(1\)'"):
        render(text="Click javascript:alert(1) now")


def test_it_lets_colons_in_ordinary_text_through():
    email = render(text="Note: opens at 10:30. Data: yours. See https://shop.example.com/a.")

    assert email.text.startswith("Note: opens at 10:30.")


def test_it_inlines_css_into_style_attributes():
    html = """
      <style>
        .price { color: #ff0000; }
        @media (max-width: 600px) { .price { color: blue; } }
      </style>
      {% for event in recent_events %}<p class="price">{{ event.value }}</p>{% endfor %}
    """

    email = render(html=html)

    assert email.html.count('<p class="price" style="color: #ff0000;">') == 2
    assert "@media (max-width: 600px)" in email.html
    assert ".price { color: #ff0000; }" not in email.html


def test_it_generates_a_text_part_with_readable_urls():
    email = render(**{**newsletter_kwargs(), "track_link": None})

    assert email.text.startswith("# Hello Ada,")
    assert "[Book number 2](https://shop.example.com/p/2) 14.50 EUR 14 Mar 2025" in email.text
    assert "[Write to us](mailto:help@example.com)" in email.text
    assert "<" not in email.text.replace("<https", "")


def test_it_makes_the_text_template_once_from_the_html_template():
    derived = text_template_from_html(NEWSLETTER_HTML)

    assert derived is not None
    assert '{% for event in recent_events if event.name == "purchase" %}' in derived
    assert "[{{ event.properties.product }}]({{ event.properties.url }})" in derived


def test_it_converts_each_email_when_a_tag_sits_inside_an_html_tag():
    html = '<p {% if customer.attributes.vip %}class="vip"{% endif %}>Hi <a href="https://x.example/">you</a></p>'

    email = render(html=html, track_link=tracked)

    assert text_template_from_html(html) is None
    assert email.text.startswith("Hi [you](https://x.example/)")


def test_it_uses_the_text_part_when_one_is_written():
    email = render(text="Hi {{ customer.first_name }},\n\nsee https://shop.example.com/")

    assert email.text.startswith("Hi Ada,\n\nsee https://shop.example.com/\n\n--")


def test_it_compiles_each_template_once():
    parts = {
        "subject": "Compiled once, {{ customer.first_name }}",
        "preheader": "Compiled once",
        "html": "<p>Compiled once {{ customer.email }}</p>",
    }
    before = compiled.cache_info()

    for _ in range(50):
        render(**parts)

    after = compiled.cache_info()
    assert after.misses - before.misses == 4  # the three parts, and the text made from the html
    assert after.hits - before.hits == 50 * 4 - 4


def test_it_lists_distinct_web_links_in_document_order():
    html = """
      <a href="https://b.example/">b</a><a href="mailto:x@example.com">m</a>
      <a href="https://a.example/?q=1&amp;r=2">a</a><a href="https://b.example/">b again</a>
      <a href="/relative">r</a><img src="https://cdn.example/i.png"><area href="http://c.example/">
    """

    assert links_in(html) == [
        "https://b.example/",
        "https://a.example/?q=1&r=2",
        "http://c.example/",
    ]


def _web_link_by_parsing(href: str) -> bool:
    """web_link's definition, without its fast path: an http(s) scheme and a host."""
    return scheme_of(href) in WEB_SCHEMES and bool(urlsplit(href).netloc)


@hypothesis.example("https://shop.example.com/p/1")
@hypothesis.example("https:///no-host")
@hypothesis.example("https://[::1/")  # an unclosed IPv6 bracket: urlsplit raises
@hypothesis.example("https://exa\uff03mple.com/")  # a host that NFKC-normalizes to contain "#"
@hypothesis.example("http://\tshop.example.com/")
@hypothesis.example("HTTPS://shop.example.com/")
@hypothesis.given(
    st.builds(
        str.__add__,
        st.sampled_from(["https://", "http://", "HTTP://", " https://", "mailto:", "ftp://", ""]),
        st.text(alphabet=st.sampled_from("ab1/?#[]:@.\t\n é\uff03"), max_size=12),
    )
)
def test_web_link_decides_as_parsing_the_url_would(href):
    try:
        expected = _web_link_by_parsing(href)
    except ValueError:
        with pytest.raises(ValueError):
            web_link(href)
        return
    assert web_link(href) is expected


def test_it_renders_the_examples_in_the_docs():
    page = Path(__file__).resolve().parents[2] / "docs" / "templates.md"
    examples = re.findall(r"```jinja\n(.*?)```", page.read_text(), re.DOTALL)

    assert len(examples) >= 6
    for example in examples:
        assert template_check(subject="Hi", preheader="", html=example, text="") == []
        email = render(html=example, track_link=tracked)
        assert "Unsubscribe" in email.html


# --- Composed templates ------------------------------------------------------------
# A variant is rendered from a composed template when that is faithful (see
# campaigns/rendering/composed.py). Whatever path an email takes, it must be
# the email the per-email path makes: the same subject and text, the same
# document once parsed (css-inline may order attributes differently), the
# same links handed to track_link, the same failure.


def _document(html):
    """A parsed document as nested tuples, attributes sorted."""

    def tree(node):
        if node.tag == "-text":
            return node.text_content
        if node.tag == "_comment":
            return ("<!-->", node.html)
        attributes = tuple(sorted((node.attributes or {}).items()))
        return (node.tag, attributes, tuple(tree(child) for child in node.iter(include_text=True)))

    return tree(LexborHTMLParser(html).root)


def _render_both(**overrides):
    """The composed render and the per-email render, each with the links it tracked."""
    kwargs = {
        "subject": "Hello {{ customer.first_name }}",
        "preheader": "",
        "html": "",
        "text": "",
        "context": sample_context(),
        "open_pixel_url": "https://ladder.example.com/t/o/token.gif",
        "unsubscribe_url": UNSUBSCRIBE,
        "preferences_url": PREFERENCES,
        **overrides,
    }
    kwargs["text_body"] = kwargs.pop("text")
    results = []
    for compose in (True, False):
        tracked_links = []

        def track(url, tracked_links=tracked_links):
            tracked_links.append(url)
            return tracked(url)

        try:
            email = render_module._render(**kwargs, track_link=track, strict=False, compose=compose)
        except RenderFailed as exc:
            email = exc
        results.append((email, tracked_links))
    return results


def _assert_same_email(composed_email, per_email):
    (email, links), (expected, expected_links) = composed_email, per_email
    if isinstance(expected, RenderFailed):
        assert str(email) == str(expected)
        return
    assert email.subject == expected.subject
    assert _document(email.html) == _document(expected.html)
    assert email.text == expected.text
    assert links == expected_links


def _composes(html, text=""):
    return composed.composed(html, text or text_template_from_html(html)) is not None


def _context_with_odd_values(purchases=2):
    context = sample_context()
    context["customer"]["first_name"] = 'O\'Neil <b>&amp;</b>\xa0"Ada"\r\n!'
    context["customer"]["attributes"].update(
        {"site": 'https://site.example/a?b=1&c="2"', "tags": ["a&b", "c<d>"], "blank": "  "}
    )
    context["recent_events"] = [
        {
            **context["recent_events"][0],
            "properties": {
                "product": f"P{n} & <i>",
                "url": f"https://shop.example.com/p/{n}?x=1&y=2",
            },
        }
        for n in range(purchases)
    ]
    return context


@pytest.mark.parametrize("purchases", [0, 1, 4])
@pytest.mark.parametrize(
    "context", [sample_context, _context_with_odd_values], ids=["sample", "odd values"]
)
def test_it_renders_the_sample_the_same_composed_or_per_email(context, purchases):
    kwargs = newsletter_kwargs()
    kwargs["context"] = context() if context is sample_context else context(purchases)
    kwargs["context"]["customer"]["metrics"]["engagement_score"] = 0.1 * purchases
    kwargs["context"]["customer"]["attributes"]["vip"] = bool(purchases % 2)
    del kwargs["track_link"]

    _assert_same_email(*_render_both(**kwargs))


def test_it_renders_the_sample_in_one_composed_render(monkeypatch):
    plan = composed.composed(NEWSLETTER_HTML, text_template_from_html(NEWSLETTER_HTML))
    monkeypatch.setattr(render_module, "_render_per_email", None)  # would fail if called

    email = render_email(**newsletter_kwargs())

    assert plan is not None
    assert plan.text is None  # the text part is made in the same render
    assert email.text.startswith("# Hello Ada,")
    assert "https://ladder.example.com/t/c/token?u=https://shop.example.com/p/2" in email.html


#: (body, whether it is composed): templates that are, and what makes one not be.
TRICKY_TEMPLATES = {
    "rows of a table": (
        '<style>.r td { color: red } table a { color: blue }</style><table class="r">'
        '{% for e in recent_events %}<tr><td><a href="{{ e.properties.url }}">{{ e.name }}</a>'
        "</td></tr>{% endfor %}</table>",
        True,
    ),
    "for else": (
        "<table>{% for e in [] %}<tr><td>{{ e }}</td></tr>{% else %}<tr><td>none</td></tr>"
        "{% endfor %}</table>",
        True,
    ),
    "if elif else": (
        "<style>p { margin: 0 }</style>{% if customer.stage == 'x' %}<p>a</p>"
        "{% elif customer.stage == 'repeat' %}<p>b {{ customer.email }}</p>{% else %}<p>c</p>"
        "{% endif %}",
        True,
    ),
    "odd values in text and attributes": (
        '<p title="{{ customer.first_name }}">{{ customer.first_name }}</p>'
        '<a href="{{ customer.attributes.site }}">s</a>'
        '<img src="{{ customer.attributes.site }}"'
        ' alt="{{ customer.attributes.tags|join(", ") }}">',
        True,
    ),
    "links that are not tracked": (
        '<a href="https://a.example/" data-ladder-notrack>a</a><a href="mailto:x@example.com">m</a>'
        '<a href="{{ unsubscribe_url }}">u</a><a href="#top">t</a><a href="/relative">r</a>'
        '<img srcset="{{ customer.attributes.site }} 1x, https://cdn.example/b.png 2x">',
        True,
    ),
    "a paragraph closed by another": (
        "<p>intro{% if customer.attributes.vip %}<p>vip{% endif %}</p>",
        True,
    ),
    "cycler, joiner and namespace": (
        '{% set c = cycler("odd", "even") %}{% set ns = namespace(n=0) %}{% set j = joiner() %}'
        "{% for e in recent_events %}{% set ns.n = ns.n + 1 %}<p>{{ j() }}{{ ns.n }}</p>"
        '<a href="https://shop.example.com/{{ c.next() }}">{{ c.current }}</a>'
        "{% endfor %}<p>{{ ns.n }}</p>",
        True,
    ),
    "whitespace control": (
        "<ul>\n  {%- for e in recent_events -%}\n    <li>{{- e.name -}}</li>\n"
        "  {%- endfor -%}\n</ul>",
        True,
    ),
    "a value joined with markup": ("<p>{{ customer.attributes.tags|join('<br>') }}</p>", True),
    "a class from a variable": (
        '<style>.repeat { color: red }</style><p class="{{ customer.stage }}">x</p>',
        False,
    ),
    "first-child": (
        "<style>p:first-child { color: red }</style>"
        "{% if customer.attributes.vip %}<p>a</p>{% endif %}<p>b</p>",
        False,
    ),
    "sibling selector": (
        "<style>p + p { color: red }</style>"
        "{% if customer.attributes.vip %}<p>a</p>{% endif %}<p>b</p>",
        False,
    ),
    "attribute selector on a personalised attribute": (
        '<style>a[href^="https"] { color: red }</style>'
        '<a href="{{ customer.attributes.site }}">x</a>',
        False,
    ),
    "style inside an if": (
        "{% if customer.attributes.vip %}<style>p { color: red }</style>{% endif %}<p>b</p>",
        False,
    ),
    "if inside a tag": ('<p {% if customer.attributes.vip %}class="vip"{% endif %}>x</p>', False),
    "text a table moves out": (
        "<table>{% for e in recent_events %}x<tr><td>{{ e.name }}</td></tr>{% endfor %}</table>",
        False,
    ),
    "cells without rows": (
        "<table>{% for e in recent_events %}<td>{{ e.name }}</td>{% endfor %}</table>",
        False,
    ),
    "an item left open": (
        "<ul>{% for e in recent_events %}<li>{{ e.name }}{% endfor %}</ul>",
        False,
    ),
    "a value that may be blank in a table": (
        "<table>{{ customer.attributes.blank }}<tr><td>a</td></tr></table>",
        False,
    ),
    "a value after an ampersand": ("<p>&amp{{ customer.first_name }}</p>", False),
    "a value in an unquoted attribute": ("<a href={{ customer.attributes.site }}>x</a>", False),
    "a value in a comment": ("<p>a</p><!-- {{ customer.email }} -->", False),
    "an entity that reads as a tag": ("<p>&#123;&#123; customer.email }}</p>", False),
    "safe": ('<p>{{ "<b>x</b>"|safe }}</p>', False),
    "macro": (
        "{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}<p>{{ m(customer.first_name) }}</p>",
        False,
    ),
    "raw": ("{% raw %}<p>{{ x }}</p>{% endraw %}", False),
    "a body that sets a name of the layout": (
        '{% set unsubscribe_url = "https://elsewhere.example/" %}<p>x</p>',
        False,
    ),
    "a body that reads a name of the layout": ("<p>{{ subject }}</p>", False),
    # Read as a fragment, as the per-email path reads it, the body loses the stray end tag.
    "a body that closes the layout's div": ("</div><p>{{ customer.first_name }}</p>", True),
    "body and html tags in a body": (
        '<html manifest="javascript:x"><body background="javascript:alert(1)"><p>x</p>',
        True,
    ),
    "a forbidden literal link": ('<a href="javascript:alert(1)">x</a>', False),
}


@pytest.mark.parametrize(("html", "composes"), TRICKY_TEMPLATES.values(), ids=TRICKY_TEMPLATES)
def test_it_renders_tricky_templates_the_same_composed_or_per_email(html, composes):
    assert _composes(html) is composes
    _assert_same_email(*_render_both(html=html, context=_context_with_odd_values()))


def test_it_composes_a_written_text_part_on_its_own():
    html = '<p>Hi {{ customer.first_name }}, <a href="https://shop.example.com/">shop</a></p>'
    text = "Hi {{ customer.first_name }}\n{% if customer.attributes.vip %}VIP{% endif %}"

    plan = composed.composed(html, text)

    assert plan is not None
    assert plan.text is not None  # its statements are not the body's
    _assert_same_email(*_render_both(html=html, text=text))


@pytest.mark.parametrize(
    "html",
    [
        '<a href="{{ customer.attributes.site }}">x</a>',
        "<p>one</p>\n<p>two</p>\n{% for event in recent_events %}\n{{ 1 / 0 }}\n{% endfor %}",
        "<p>{{ 'x' * 10**9 }}</p>",
        '<a href="javascript:alert(1)">x</a>{{ 1 / 0 }}',
    ],
)
def test_it_fails_the_same_way_composed_or_per_email(html):
    context = sample_context()
    context["customer"]["attributes"]["site"] = "javascript:alert(document.cookie)"

    composed_email, per_email = _render_both(html=html, context=context)

    assert isinstance(per_email[0], RenderFailed)
    _assert_same_email(composed_email, per_email)


def test_it_renders_per_email_when_a_value_brings_its_own_markup(monkeypatch):
    html = "<p>{{ customer.attributes|tojson }}</p>"
    calls = []
    per_email = render_module._render_per_email
    monkeypatch.setattr(
        render_module,
        "_render_per_email",
        lambda *args, **kwargs: calls.append(1) or per_email(*args, **kwargs),
    )

    email = render(html=html)

    assert _composes(html)
    assert calls == [1]
    assert "&#34;city&#34;: &#34;London&#34;" in email.html or '"city": "London"' in email.html


def test_it_drops_html_and_body_tags_a_body_brings_on_either_path():
    html = '<body background="javascript:alert(1)"><p>x</p>'

    for email, _ in _render_both(html=html):
        assert "javascript" not in email.html


def _generated_template(seed):
    """A random body of nested blocks, links, values and CSS, the same for a seed."""
    rng = random.Random(seed)
    values = ["customer.first_name", "customer.attributes.site", "customer.attributes.blank"]
    loop_values = [*values, "e.name", "e.properties.url", "loop.index"]
    conditions = ["customer.attributes.vip", "customer.stage == 'repeat'"]
    loop_conditions = [*conditions, "e.value", "loop.first"]

    def value(loop):
        return "{{ " + rng.choice(loop_values if loop else values) + " }}"

    def blocks(depth, loop):
        return "".join(block(depth + 1, loop) for _ in range(rng.randint(0, 2)))

    def block(depth, loop):
        kinds = ["text", "p", "a", "img"] + (["if", "for", "div", "table"] if depth < 3 else [])
        kind = rng.choice(kinds)
        if kind == "text":
            return rng.choice(["Hello ", "x & y ", "\n  ", value(loop)])
        if kind in ("p", "div"):
            return f'<{kind} class="{rng.choice("ab")}">{blocks(depth, loop)}</{kind}>'
        if kind == "a":
            href = rng.choice(["https://shop.example.com/?a=1&amp;b=2", value(loop)])
            return f'<a href="{href}">{blocks(depth, loop)}</a>'
        if kind == "img":
            return f'<img src="{value(loop)}" alt="{value(loop)}">'
        if kind == "if":
            condition = rng.choice(loop_conditions if loop else conditions)
            other = "{% else %}" + blocks(depth, loop) if rng.random() < 0.4 else ""
            return f"{{% if {condition} %}}{blocks(depth, loop)}{other}{{% endif %}}"
        if kind == "for":
            return "{% for e in recent_events %}" + block(depth + 1, True) + "{% endfor %}"
        row = f"<tr><td>{blocks(depth, True)}</td></tr>"
        return f"<table>\n  {{% for e in recent_events %}}\n  {row}\n  {{% endfor %}}\n</table>"

    selectors = ["p", ".a", "td", "a", "table td", "div p", ".b a", "td > a"]
    css = " ".join(f"{rng.choice(selectors)} {{ color: #{n}{n}{n}; }}" for n in range(3))
    return f"<style>{css}</style>\n" + "".join(block(0, False) for _ in range(3))


@pytest.mark.parametrize("seed", range(30))
def test_it_renders_generated_templates_the_same_composed_or_per_email(seed):
    html = _generated_template(seed)
    for purchases in (0, 2):
        _assert_same_email(*_render_both(html=html, context=_context_with_odd_values(purchases)))
