"""Rendering one email: parts, layout, links, tracking, CSS and the text part. No database."""

import re
from pathlib import Path

import pytest

from campaigns.rendering import (
    RenderFailed,
    links_in,
    render_email,
    sample_context,
    template_check,
)
from campaigns.rendering.environment import compiled
from campaigns.rendering.limits import MAX_SUBJECT_CHARS
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


def test_it_renders_the_examples_in_the_docs():
    page = Path(__file__).resolve().parents[2] / "docs" / "templates.md"
    examples = re.findall(r"```jinja\n(.*?)```", page.read_text(), re.DOTALL)

    assert len(examples) >= 6
    for example in examples:
        assert template_check(subject="Hi", preheader="", html=example, text="") == []
        email = render(html=example, track_link=tracked)
        assert "Unsubscribe" in email.html
