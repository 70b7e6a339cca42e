"""The demo store as it stands when the simulated month begins: two years of history.

Customers are written through the same services as the HTTP API and the CSV
import (``customers_upsert``, ``consents_record``, ``events_record``), in
batches with a fixed number of queries each. Their stages are not written:
the loyalty ladder works them out from the purchases, reviews and consents
stored here, as it would for a real store. Each segment of
``demo.behaviour.SEGMENTS`` gets the history that puts it on its stage.

Everything is drawn from one seeded generator, so the same seed and start
give the same store.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from customers.models import ConsentSource, ConsentStatus, Topic
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.events import EventInput, events_record
from customers.services.profiles import ProfileInput, customers_upsert
from demo.behaviour import SEGMENTS, Persona, order_value, persona_new, product_pick
from demo.store import (
    CONSENT_TEXT,
    CONSENT_TEXT_VERSION,
    CURRENCY,
    FIRST_NAMES,
    LAST_NAMES,
    LOCALES,
    TIME_ZONES,
)

#: Customers per write: one upsert, one or two consent writes, one event write.
BATCH = 500
#: How far back the store's history goes.
HISTORY_DAYS = 730

#: segment -> shares of (granted, withdrawn, pending, never asked) marketing consent.
CONSENT_MIX = {
    "suspect": (0.0, 0.35, 0.15, 0.5),
    "prospect": (0.93, 0.0, 0.0, 0.07),
}
BUYER_CONSENT_MIX = (0.80, 0.06, 0.02, 0.12)
CONSENT_STATUSES = (ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN, ConsentStatus.PENDING, None)
#: Where the demo's pretend visitors come from (TEST-NET-3, RFC 5737).
IP_PREFIX = "203.0.113."
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)


@dataclass(frozen=True)
class Newcomer:
    """One seeded customer before it is stored."""

    persona: Persona
    profile: ProfileInput
    signed_up: datetime
    consent: ConsentStatus | None
    events: tuple[EventInput, ...]


def profile_new(rng: random.Random, *, number: int, prefix: str, signed_up: datetime) -> tuple:
    """A believable customer profile: (email, external id, ProfileInput)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    plain = f"{first}.{last}".lower().translate(str.maketrans("éí", "ei"))
    email = f"{plain}.{number}@{rng.choice(('example.com', 'example.org', 'example.net'))}"
    external_id = f"{prefix}-{number:05d}"
    birthday = f"{rng.randint(1955, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    profile = ProfileInput(
        email=email,
        external_id=external_id,
        first_name=first,
        last_name=last,
        locale=rng.choice(LOCALES),
        time_zone=rng.choice(TIME_ZONES),
        attributes={
            "birthday": birthday,
            "signup_channel": rng.choice(("web", "web", "checkout", "market-stall")),
            "signed_up_on": f"{signed_up:%Y-%m-%d}",
        },
    )
    return email, external_id, profile


def _pick(rng: random.Random, shares: tuple[float, ...], values: tuple):
    return rng.choices(values, weights=shares)[0]


def _segments(rng: random.Random, count: int) -> list[str]:
    names = list(SEGMENTS)
    return rng.choices(names, weights=[SEGMENTS[n].share for n in names], k=count)


def _purchase_days(rng: random.Random, segment: str) -> list[float]:
    """Days before the start on which the customer bought, by segment.

    The ladder's default rules: one order is a customer, two a repeat, four
    within a year loyal; no order for 180 days is lapsed.
    """
    if segment == "customer":
        return [rng.uniform(5, 170)]
    if segment == "repeat":
        return [rng.uniform(5, 170)] + [rng.uniform(30, 600) for _ in range(rng.randint(1, 2))]
    if segment == "lapsed":
        return [rng.uniform(190, 700) for _ in range(rng.choice((1, 1, 2, 3)))]
    if segment in ("loyal", "advocate"):
        return [rng.uniform(2, 60)] + [rng.uniform(10, 360) for _ in range(rng.randint(3, 7))]
    return []


def _events(rng: random.Random, persona: Persona, segment: str, start: datetime) -> Iterator:
    for n, days in enumerate(_purchase_days(rng, segment)):
        product = product_pick(rng)
        quantity, value = order_value(rng, product)
        yield EventInput(
            name="purchase",
            external_id=persona.external_id,
            occurred_at=start - timedelta(days=days),
            properties={
                "sku": product.sku,
                "product": product.name,
                "quantity": quantity,
                "url": product.url,
            },
            value=value,
            currency=CURRENCY,
            idempotency_key=f"{persona.external_id}-order-{n}",
        )
    if segment == "advocate":
        name = rng.choice(("review", "review", "referral"))
        yield EventInput(
            name=name,
            external_id=persona.external_id,
            occurred_at=start - timedelta(days=rng.uniform(1, 300)),
            properties={"rating": rng.choice((4, 5, 5))} if name == "review" else {},
            idempotency_key=f"{persona.external_id}-{name}",
        )
    # Visitors who never agreed to email are prospects by their visits alone.
    visits = rng.randint(1, 3) if segment == "prospect" else rng.choice((0, 0, 1))
    recent = 60 if segment == "prospect" else 400
    for n in range(visits):
        yield EventInput(
            name="page_view",
            external_id=persona.external_id,
            occurred_at=start
            - timedelta(days=rng.uniform(1, recent) + (segment == "suspect") * 95),
            properties={"path": rng.choice(("/", "/shop", "/p/teapot", "/guide"))},
            idempotency_key=f"{persona.external_id}-view-{n}",
        )


def _newcomers(rng: random.Random, count: int, start: datetime) -> list[Newcomer]:
    """Everyone, oldest sign-up first (so each batch covers a stretch of time)."""
    days_ago = sorted((rng.uniform(35, HISTORY_DAYS) for _ in range(count)), reverse=True)
    found = []
    for number, (segment, days) in enumerate(zip(_segments(rng, count), days_ago, strict=True)):
        signed_up = start - timedelta(days=days)
        email, external_id, profile = profile_new(
            rng, number=number, prefix="shop", signed_up=signed_up
        )
        persona = persona_new(rng, email=email, external_id=external_id, segment=segment)
        mix = CONSENT_MIX.get(segment, BUYER_CONSENT_MIX)
        consent = _pick(rng, mix, CONSENT_STATUSES)
        events = tuple(_events(rng, persona, segment, start))
        found.append(Newcomer(persona, profile, signed_up, consent, events))
    return found


def _proof(rng: random.Random, status: ConsentStatus) -> ConsentProof:
    if status == ConsentStatus.WITHDRAWN:
        return ConsentProof(ConsentSource.UNSUBSCRIBE, actor="customer", text="Unsubscribe link")
    return ConsentProof(
        ConsentSource.FORM,
        actor="signup form",
        text=CONSENT_TEXT,
        text_version=CONSENT_TEXT_VERSION,
        ip_address=f"{IP_PREFIX}{rng.randint(1, 254)}",
        user_agent=rng.choice(USER_AGENTS),
    )


def _consents(rng: random.Random, batch: list[Newcomer], customers: dict, at: datetime) -> int:
    """Granted (or pending) at sign-up; withdrawn later, after a grant. Proof with each."""
    topic = Topic.objects.get(key="email_marketing")
    asked = [n for n in batch if n.consent is not None]
    first = [
        ConsentChange(
            customers[n.persona.external_id],
            topic,
            ConsentStatus.PENDING if n.consent == ConsentStatus.PENDING else ConsentStatus.GRANTED,
            _proof(rng, ConsentStatus.GRANTED),
        )
        for n in asked
    ]
    recorded = consents_record(changes=first, at=at)
    withdrawn = [
        ConsentChange(
            customers[n.persona.external_id],
            topic,
            ConsentStatus.WITHDRAWN,
            _proof(rng, ConsentStatus.WITHDRAWN),
        )
        for n in asked
        if n.consent == ConsentStatus.WITHDRAWN
    ]
    if withdrawn:
        recorded += consents_record(changes=withdrawn, at=at + timedelta(days=20))
    return recorded


@dataclass(frozen=True)
class Seeded:
    personas: list[Persona]
    events: int
    consent_changes: int


def store_seed(
    *, count: int, seed: int, now: datetime, progress: Callable[[int], object] | None = None
) -> Seeded:
    """Store ``count`` customers with two years of history up to ``now``."""
    rng = random.Random(f"{seed}:store")
    newcomers = _newcomers(rng, count, now)
    events = consents = 0
    for offset in range(0, count, BATCH):
        batch = newcomers[offset : offset + BATCH]
        # The batch's customers and consents are stored as of its newest sign-up.
        at = batch[-1].signed_up
        upserted = customers_upsert(profiles=[n.profile for n in batch], cause="signed up", at=at)
        customers = {u.customer.external_id: u.customer for u in upserted}
        for newcomer in batch:
            newcomer.persona.customer_id = customers[newcomer.persona.external_id].pk
        consents += _consents(rng, batch, customers, at)
        batch_events = [event for n in batch for event in n.events]
        events += events_record(events=batch_events, received_at=now).accepted
        if progress is not None:
            progress(len(batch))
    return Seeded([n.persona for n in newcomers], events, consents)
