"""How fast this machine is right now, as one number that runs of different hours compare by.

The benchmark VM's speed changes from hour to hour: on 2026-12-07 the same
commit sent 1,948 msg/s on the batch path in the afternoon and 3,739 in the
evening, and two runs a few minutes apart could differ by a quarter. A rate
alone cannot tell a slower commit from a slower hour. So ``python -m bench``
times one fixed piece of the work Ladder does most, before its first scenario
and after its last: plain Jinja2 rendering the newsletter sample's body
(tests/campaigns/samples.py) with a fixed context, on one core, in CPU time.
It needs no database and no Django: only a change to that sample template or
to Jinja2's version (recorded beside it) moves it.

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
#: Rendering before the clock: the first second of work after a pause runs
#: slower on this VM (a fresh process read 94 µs, then 64 and 63; another
#: straight after it, 64, 64 and 63).
WARM_UP_SECONDS = 1.0
RENDERS_PER_CHECK = 50


def _context() -> dict:
    """Every name the newsletter body reads: four purchases and a page view its loop skips."""
    occurred_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    page_view = {"name": "page_view", "properties": {"url": "https://shop.example.com/"},
                 "value": None, "currency": "", "occurred_at": occurred_at}  # fmt: skip
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
        ]
        + [page_view],
    }


def _round(render, seconds: float) -> float:
    """CPU seconds per render over at least ``seconds`` of CPU."""
    done, started = 0, time.process_time()
    while (elapsed := time.process_time() - started) < seconds or not done:
        for _ in range(RENDERS_PER_CHECK):
            render()
        done += RENDERS_PER_CHECK
    return elapsed / done


def machine_speed(
    *,
    rounds: int = ROUNDS,
    round_seconds: float = ROUND_SECONDS,
    warm_up_seconds: float = WARM_UP_SECONDS,
) -> float:
    """CPU µs per render of the newsletter body in plain Jinja2: lower is a faster machine."""
    import jinja2

    from tests.campaigns.samples import NEWSLETTER_HTML

    if rounds < 1:
        raise ValueError("machine_speed needs at least one round")
    template = jinja2.Environment(autoescape=True).from_string(NEWSLETTER_HTML)
    context = _context()
    _round(lambda: template.render(context), warm_up_seconds)
    best = min(_round(lambda: template.render(context), round_seconds) for _ in range(rounds))
    return round(best * 1e6, 1)


def speed_range(info: dict) -> str:
    """The calibration at the start and end of a run, for its label and summary."""
    start, end = info["speed_at_start_us"], info["speed_at_end_us"]
    return f"sample render {start:.0f} → {end:.0f} µs"
