"""How the demo's simulated customers behave: the truth the A/B tests try to find.

Nothing here touches the database. The simulation asks, for each email a
customer received, whether and when they open it, click, buy, unsubscribe or
complain, and, for each day, who buys or writes a review without being asked.
Every answer comes from a random generator seeded with the demo's seed and
the email's delivery id (or the day), so a run is reproducible whatever order
the emails are read in.

The variants of each A/B test truly differ here (``RESPONSES``): a report that
finds a winner finds a difference that exists. docs/demo.md lists them.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from demo.store import PRODUCTS, Product


@dataclass(frozen=True)
class Segment:
    """A kind of customer the seed makes, and how they shop without any email."""

    #: Share of the seeded store.
    share: float
    #: Chance of buying on any given day, unprompted.
    buys_per_day: float
    #: Chance of writing a review on any given day (a review makes an advocate).
    reviews_per_day: float
    #: Range of the multiplier on their email open and click rates.
    affinity: tuple[float, float]


#: What the seed makes, and the stage the ladder's default rules put them on.
SEGMENTS = {
    "suspect": Segment(0.13, 0.0003, 0, (0.3, 0.6)),
    "prospect": Segment(0.35, 0.0020, 0, (0.6, 1.2)),
    "customer": Segment(0.11, 0.0050, 0, (0.6, 1.2)),
    "repeat": Segment(0.10, 0.0090, 0.0002, (0.8, 1.3)),
    "lapsed": Segment(0.13, 0.0012, 0, (0.3, 0.8)),
    "loyal": Segment(0.11, 0.0280, 0.0015, (1.0, 1.6)),
    "advocate": Segment(0.07, 0.0300, 0.0010, (1.1, 1.7)),
    #: Signed up during the simulated month.
    "new": Segment(0, 0.0025, 0, (0.7, 1.3)),
}

#: Share of customers whose mail app fetches images on arrival (Apple Mail
#: Privacy Protection): their pixel loads seconds after sending, opened or not.
PRIVACY_PROXY_SHARE = 0.04
#: Share of addresses that no longer exist: the first email hard-bounces.
DEAD_MAILBOX_SHARE = 0.012
#: Chance that a person who opens an email reports it as spam.
COMPLAINT_RATE = 0.0008


@dataclass(frozen=True)
class Response:
    """One variant's true rates: open (of emails), click (of opens), and what a
    click leads to: buy (or refer, on the referral page)."""

    open: float
    click: float
    buy: float
    #: Chance of unsubscribing, per email opened.
    unsubscribe: float = 0.012


#: (message key, variant key) -> the truth. welcome-1 B's subject line really
#: is opened more; second-purchase B's discount and miss-you B's really do sell more.
RESPONSES = {
    ("welcome-1", "A"): Response(open=0.30, click=0.22, buy=0.20),
    ("welcome-1", "B"): Response(open=0.40, click=0.22, buy=0.20),
    ("welcome-2", "A"): Response(open=0.30, click=0.24, buy=0.22),
    ("welcome-3", "A"): Response(open=0.32, click=0.18, buy=0.12),
    ("second-purchase", "A"): Response(open=0.42, click=0.26, buy=0.25),
    ("second-purchase", "B"): Response(open=0.44, click=0.30, buy=0.40),
    ("referral-ask", "A"): Response(open=0.48, click=0.30, buy=0.50),
    ("miss-you", "A"): Response(open=0.20, click=0.16, buy=0.15, unsubscribe=0.03),
    ("miss-you", "B"): Response(open=0.24, click=0.28, buy=0.30, unsubscribe=0.03),
    ("birthday", "A"): Response(open=0.52, click=0.22, buy=0.30),
}
#: Messages the demo does not know (you added one): an ordinary email.
DEFAULT_RESPONSE = Response(open=0.28, click=0.2, buy=0.15)


@dataclass
class Persona:
    """One simulated customer: who Ladder knows, and how they behave."""

    email: str
    external_id: str
    segment: str
    affinity: float
    privacy_proxy: bool
    dead_mailbox: bool
    #: Set once the customer is stored.
    customer_id: int | None = None


def persona_new(rng: random.Random, *, email: str, external_id: str, segment: str) -> Persona:
    low, high = SEGMENTS[segment].affinity
    return Persona(
        email=email,
        external_id=external_id,
        segment=segment,
        affinity=rng.uniform(low, high),
        privacy_proxy=rng.random() < PRIVACY_PROXY_SHARE,
        dead_mailbox=rng.random() < DEAD_MAILBOX_SHARE,
    )


# --- Reactions to one email --------------------------------------------------


@dataclass(frozen=True)
class Reaction:
    """What one customer does with one email; times are absolute, None is never."""

    prefetch_at: datetime | None = None
    bounce_at: datetime | None = None
    open_at: datetime | None = None
    click_at: datetime | None = None
    #: Index into the email's tracked links of the one clicked.
    link: int = 0
    #: Minutes from the click to the purchase (or referral), if the click leads to one.
    buy_after: float | None = None
    unsubscribe_at: datetime | None = None
    #: True: "unsubscribe from everything" on the page; False: the mail app's one-click.
    unsubscribe_all: bool = False
    complain_at: datetime | None = None


def _delay(rng: random.Random, median_hours: float, spread: float, cap_hours: float) -> timedelta:
    """A log-normal wait: most people act within hours, some days later."""
    hours = min(rng.lognormvariate(math.log(median_hours), spread), cap_hours)
    return timedelta(hours=hours)


def reaction(
    *, seed: int, delivery_id: int, persona: Persona, message: str, variant: str, links: int,
    sent_at: datetime,
) -> Reaction:  # fmt: skip
    """What ``persona`` does with this email (drawn from the seed and the delivery id)."""
    rng = random.Random(f"{seed}:{delivery_id}")
    if persona.dead_mailbox:
        return Reaction(bounce_at=sent_at + timedelta(seconds=rng.uniform(20, 240)))
    truth = RESPONSES.get((message, variant), DEFAULT_RESPONSE)
    prefetch_at = sent_at + timedelta(seconds=rng.uniform(1, 8)) if persona.privacy_proxy else None
    if rng.random() >= min(truth.open * persona.affinity, 0.95):
        return Reaction(prefetch_at=prefetch_at)
    open_at = sent_at + timedelta(minutes=2) + _delay(rng, 3, 1.3, 24 * 6)
    if rng.random() < truth.unsubscribe:
        return Reaction(
            prefetch_at=prefetch_at,
            open_at=open_at,
            unsubscribe_at=open_at + timedelta(seconds=rng.uniform(20, 300)),
            unsubscribe_all=rng.random() < 0.3,
        )
    if rng.random() < COMPLAINT_RATE:
        complain_at = open_at + timedelta(seconds=rng.uniform(5, 120))
        return Reaction(prefetch_at=prefetch_at, open_at=open_at, complain_at=complain_at)
    if not links or rng.random() >= min(truth.click * persona.affinity, 0.9):
        return Reaction(prefetch_at=prefetch_at, open_at=open_at)
    click_at = open_at + timedelta(seconds=rng.uniform(15, 600))
    buy_after = rng.uniform(3, 90) if rng.random() < truth.buy else None
    return Reaction(
        prefetch_at=prefetch_at,
        open_at=open_at,
        click_at=click_at,
        link=rng.randrange(links),
        buy_after=buy_after,
    )


# --- Unprompted days -----------------------------------------------------------


def product_pick(rng: random.Random) -> Product:
    """What someone buys when nothing pointed them anywhere."""
    return rng.choices(PRODUCTS, weights=[p.popularity for p in PRODUCTS])[0]


def order_value(rng: random.Random, product: Product) -> tuple[int, Decimal]:
    quantity = rng.choice((1, 1, 1, 2))
    return quantity, product.price * quantity


@dataclass(frozen=True)
class Doing:
    """Something a customer does on their own: a purchase or a review."""

    persona: Persona
    name: str
    at: datetime


def day_of(seed: int, day: datetime, personas: list[Persona]) -> list[Doing]:
    """Purchases and reviews nobody prompted, on the day starting at ``day``."""
    rng = random.Random(f"{seed}:day:{day:%Y-%m-%d}")
    doings = []
    for persona in personas:
        segment = SEGMENTS[persona.segment]
        if rng.random() < segment.buys_per_day:
            doings.append(Doing(persona, "purchase", day + timedelta(hours=rng.uniform(0, 24))))
        if segment.reviews_per_day and rng.random() < segment.reviews_per_day:
            doings.append(Doing(persona, "review", day + timedelta(hours=rng.uniform(0, 24))))
    return doings
