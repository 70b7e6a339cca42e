"""A deterministic demo population, written through the same services as the API.

Seeded from a fixed random seed with stable idempotency keys, so running the
demo twice leaves the same data: profiles are upserted, repeated events are
duplicates, repeated consents are not recorded again.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from customers.models import ConsentSource, ConsentStatus, Topic
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.events import EventInput, events_record
from customers.services.profiles import ProfileInput, customers_upsert

FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jonas",
    "Kenji",
    "Lena",
    "Mateo",
    "Noor",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sami",
    "Tess",
    "Umar",
    "Vera",
    "Wen",
    "Yara",
    "Zoe",
)
LAST_NAMES = (
    "Andersen",
    "Baptiste",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Peters",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Varga",
    "Weber",
    "Yilmaz",
)
TIME_ZONES = (
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Europe/Berlin",
    "America/Sao_Paulo",
)
PRODUCTS = (
    ("tea-sampler", "19.90"),
    ("teapot", "49.00"),
    ("matcha-kit", "34.50"),
    ("mug-set", "24.00"),
    ("subscription-box", "29.00"),
    ("gift-card", "50.00"),
)
#: How demo customers answered the sign-up consent question.
CONSENT_MIX = (
    (ConsentStatus.GRANTED, 0.70),
    (ConsentStatus.PENDING, 0.08),
    (ConsentStatus.WITHDRAWN, 0.07),
    (None, 0.15),
)
CONSENT_TEXT = "Yes, email me news, offers and recommendations. I can unsubscribe at any time."
BATCH = 100


@dataclass(frozen=True)
class SeedResult:
    customers_created: int
    consent_changes: int
    events_accepted: int
    events_duplicate: int


def _profiles(rng: random.Random, count: int) -> list[ProfileInput]:
    profiles = []
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        profiles.append(
            ProfileInput(
                email=f"{first.lower()}.{last.lower()}.{n}@demo.ladder.test".replace("é", "e"),
                external_id=f"demo-{n:05d}",
                first_name=first,
                last_name=last,
                locale=rng.choice(("en", "en-GB", "fr", "de", "ja", "pt-BR")),
                time_zone=rng.choice(TIME_ZONES),
                attributes={
                    "signup_channel": rng.choice(("web", "store", "referral")),
                    "birthday": f"19{rng.randint(60, 99)}-{rng.randint(1, 12):02d}-"
                    f"{rng.randint(1, 28):02d}",
                },
            )
        )
    return profiles


def _consent_status(rng: random.Random) -> ConsentStatus | None:
    roll, total = rng.random(), 0.0
    for status, share in CONSENT_MIX:
        total += share
        if roll < total:
            return status
    return None


def _events(rng: random.Random, profile: ProfileInput, now: datetime) -> Iterator[EventInput]:
    """About a year of browsing and, for some, buying: a long tail of big spenders."""
    visits = rng.randint(0, 25)
    purchases = min(int(rng.paretovariate(1.6)) - 1, 12) if rng.random() < 0.55 else 0
    for n in range(visits):
        yield EventInput(
            name="page_view",
            external_id=profile.external_id,
            occurred_at=now - timedelta(days=rng.uniform(0, 365)),
            properties={"path": rng.choice(("/", "/shop", "/shop/teapots", "/blog/brewing"))},
            idempotency_key=f"{profile.external_id}-view-{n}",
        )
    for n in range(purchases):
        sku, price = rng.choice(PRODUCTS)
        quantity = rng.choice((1, 1, 1, 2))
        yield EventInput(
            name="purchase",
            external_id=profile.external_id,
            occurred_at=now - timedelta(days=rng.uniform(0, 365)),
            properties={"sku": sku, "quantity": quantity},
            value=Decimal(price) * quantity,
            currency="EUR",
            idempotency_key=f"{profile.external_id}-order-{n}",
        )


def seed_customers(*, count: int, now: datetime, progress=None) -> SeedResult:
    """Create ``count`` demo customers with consents and events, in batches."""
    rng = random.Random(20261123)
    topic = Topic.objects.get(key="email_marketing")
    profiles = _profiles(rng, count)
    created = consents = accepted = duplicates = 0
    for start in range(0, count, BATCH):
        batch = profiles[start : start + BATCH]
        upserted = customers_upsert(profiles=batch, cause="demo seed", at=now)
        created += sum(u.created for u in upserted)
        changes = [
            ConsentChange(
                u.customer,
                topic,
                status,
                ConsentProof(
                    ConsentSource.FORM, actor="demo", text=CONSENT_TEXT, text_version="2026-01"
                ),
            )
            for u in upserted
            if (status := _consent_status(rng)) is not None
        ]
        consents += consents_record(changes=changes, at=now)
        events = [event for profile in batch for event in _events(rng, profile, now)]
        recorded = events_record(events=events, received_at=now)
        accepted, duplicates = accepted + recorded.accepted, duplicates + recorded.duplicates
        if progress is not None:
            progress.update(len(batch))
    return SeedResult(created, consents, accepted, duplicates)
