"""How fast this machine is right now, as one number that runs of different hours compare by.

The benchmark VM's speed changes from hour to hour: on 2026-12-07 the same
commit sent 1,948 msg/s on the batch path in the afternoon and 3,739 in the
evening, and two runs a few minutes apart could differ by a quarter. A rate
alone cannot tell a slower commit from a slower hour. So ``python -m bench``
times one fixed piece of the work Ladder does most, before its first scenario
and after its last: plain Jinja2 rendering the newsletter sample's body
(tests/campaigns/samples.py) with a fixed context, on one core, in CPU time.
It needs no database and no Django, so nothing a commit changes moves it.

It says how fast the CPU ran Python at two instants, and is no factor to
convert a figure by: it moves within minutes, and scenarios that spend their
time in PostgreSQL move with the disk and memory too (docs/performance.md,
"Running it"). A run whose start and end calibrations differ much was
measured while the machine moved.
"""

import time
from datetime import UTC, datetime
from decimal import Decimal

#: One timing round; the best of the rounds is the figure (the least disturbed).
ROUND_SECONDS = 0.2
ROUNDS = 5
RENDERS_PER_CHECK = 50


def _context() -> dict:
    """The names the newsletter body reads, with four purchases (as samples.newsletter_context)."""
    occurred_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return {
        "customer": {
            "first_name": "Ada",
            "stage": "repeat",
            "attributes": {"city": "London", "vip": True},
            "metrics": {"orders_count": 7, "engagement_score": 0.62},
        },
        "message": {"key": "newsletter"},
        "recent_events": [
            {
                "name": "purchase",
                "properties": {
                    "product": f"Book number {number}",
                    "url": f"https://shop.example.com/p/{number}",
                },
                "value": Decimal("12.50") + number,
                "currency": "EUR",
                "occurred_at": occurred_at,
            }
            for number in range(4)
        ],
    }


def machine_speed(*, rounds: int = ROUNDS, round_seconds: float = ROUND_SECONDS) -> float:
    """CPU µs per render of the newsletter body in plain Jinja2: lower is a faster machine."""
    import jinja2

    from tests.campaigns.samples import NEWSLETTER_HTML

    template = jinja2.Environment(autoescape=True).from_string(NEWSLETTER_HTML)
    context = _context()
    template.render(context)  # first render: caches warm
    best = float("inf")
    for _ in range(rounds):
        done, started = 0, time.process_time()
        while (elapsed := time.process_time() - started) < round_seconds:
            for _ in range(RENDERS_PER_CHECK):
                template.render(context)
            done += RENDERS_PER_CHECK
        best = min(best, elapsed / done)
    return round(best * 1e6, 1)
