"""A realistic variant for rendering tests and for measuring render time.

About 5 KB of HTML once rendered: a personal greeting, conditionals on stage,
attributes and engagement, a table of the last four purchases, and a <style>
block to inline. Measure with:

    .venv/bin/python -c "from tests.campaigns.samples import main; main()"
"""

import os
import timeit
from decimal import Decimal

NEWSLETTER_SUBJECT = "{{ customer.first_name }}, your picks are in"
NEWSLETTER_PREHEADER = "Up to 40% off until Sunday"
NEWSLETTER_HTML = """\
<style>
  .intro { font-size: 18px; color: #111827; }
  .products td { padding: 8px; border-bottom: 1px solid #e5e7eb; }
  .button { display: inline-block; padding: 12px 20px; background: #1d4ed8; color: #ffffff;
    text-decoration: none; border-radius: 4px; }
  .muted { color: #6b7280; font-size: 13px; }
  @media (max-width: 600px) { .button { display: block; text-align: center; } }
</style>
<h1>Hello {{ customer.first_name or "there" }},</h1>
<p class="intro">Thank you for being one of our {{ customer.stage }} customers
{%- if customer.attributes.city %} in {{ customer.attributes.city }}{% endif %}.
You have placed {{ customer.metrics.orders_count }} orders with us so far, and we picked a few
things we think you will like, based on what you bought recently. Every pick below is in stock
and ships within two working days.</p>
{% if customer.attributes.vip %}
<p><strong>As a VIP you get free shipping on everything this week.</strong></p>
{% endif %}
<table class="products" role="presentation" width="100%">
  {% for event in recent_events if event.name == "purchase" %}
  <tr>
    <td><a href="{{ event.properties.url }}">{{ event.properties.product }}</a></td>
    <td>{{ "%.2f"|format(event.value) }} {{ event.currency }}</td>
    <td class="muted">{{ event.occurred_at.strftime("%d %b %Y") }}</td>
  </tr>
  {% endfor %}
</table>
<p>Our spring sale ends on Sunday. Books, prints and stationery are up to 40% off, and orders
over 50 EUR ship free to anywhere in Europe. If you would like to see everything at once, the
button below takes you to the full sale.</p>
<p><a class="button"
  href="https://shop.example.com/sale?utm_source=ladder&amp;utm_campaign={{ message.key }}"
  >Shop the sale</a></p>
{% if customer.metrics.engagement_score > 0.5 %}
<p>Because you read our emails so often, here is an early look at next month's catalogue:
<a href="https://shop.example.com/preview">see the preview</a>.</p>
{% else %}
<p>We would love to hear what you think: <a href="https://shop.example.com/survey">answer three
questions</a>.</p>
{% endif %}
<p class="muted">Questions about an order? <a href="mailto:help@example.com">Write to us</a> and a
person will answer within a day. You are receiving this because you are a customer of Example
Shop. Prices include VAT.</p>
"""


def newsletter_context() -> dict:
    """The sample context with four recent purchases."""
    from campaigns.rendering import sample_context

    context = sample_context()
    purchase = context["recent_events"][0]
    context["recent_events"] = [
        {
            **purchase,
            "properties": {
                "product": f"Book number {number}",
                "url": f"https://shop.example.com/p/{number}",
            },
            "value": Decimal("12.50") + number,
        }
        for number in range(4)
    ]
    return context


def newsletter_kwargs() -> dict:
    """render_email() arguments for the newsletter, with tracking on."""
    context = newsletter_context()
    return {
        "subject": NEWSLETTER_SUBJECT,
        "preheader": NEWSLETTER_PREHEADER,
        "html": NEWSLETTER_HTML,
        "text": "",
        "context": context,
        "track_link": lambda url: "https://ladder.example.com/t/c/token?u=" + url,
        "open_pixel_url": "https://ladder.example.com/t/o/token.gif",
        "unsubscribe_url": context["unsubscribe_url"],
        "preferences_url": context["preferences_url"],
    }


def main() -> None:
    """Print the render time per email, after the first (compiling) render."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from campaigns.rendering import render_email

    kwargs = newsletter_kwargs()
    email = render_email(**kwargs)
    runs = 500
    best = min(timeit.repeat(lambda: render_email(**kwargs), number=runs, repeat=7)) / runs
    print(f"{len(email.html):,} characters of HTML, {len(email.text):,} of text")
    print(f"{best * 1e6:.0f} µs per email (best of 7 runs of {runs})")
