"""What Postmark would post about a batch of sent emails, and what Ladder must make of it.

Pure data, no Django: ``stream_build`` takes the sent deliveries and returns
the request bodies of Postmark's tracking webhook (the payloads of Postmark's
documentation, as in tests/campaigns/test_webhooks.py) in two waves, with the
outcome each delivery must end with. The webhook scenario posts them and
compares the database with ``Expected``.

The mix is a campaign as Postmark reports it: a Delivery record for nearly
every email, hard and soft bounces, a few spam complaints and unsubscribes,
and opens and clicks (sent only when the provider's own tracking is on; here,
so that their path is measured too). Two things make it a test of the
webhook's guarantees, not only of its speed:

- **Duplicates.** Some events are posted twice side by side, so two clients
  send them at the same moment (a provider retrying before the first answer),
  and some are posted again in the second wave (a retry later on). Neither
  may store anything twice.
- **Order.** Of the bounced emails, some have their Delivery record posted
  in the first wave, racing the bounce; the others get it in the second wave,
  after the bounce was answered. Whatever the order, the delivery ends
  bounced, and a late Delivery record changes nothing.
"""

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

#: Shares of the deliveries in a stream.
HARD_BOUNCE, SOFT_BOUNCE = 0.02, 0.01
#: Of the bounced, the share whose Delivery record races the bounce (first
#: wave); the rest get theirs late (second wave).
RACING_DELIVERY = 1 / 3
#: Of those not bounced.
OPENED, CLICKED, COMPLAINED, UNSUBSCRIBED = 0.25, 0.05, 0.002, 0.003
#: Of the first wave's events: posted twice side by side, and posted again in the second wave.
DUPLICATED, RETRIED = 0.03, 0.02
#: Posts per delivery, roughly: for sizing a stream from a number of events.
EVENTS_PER_DELIVERY = (1 + OPENED + CLICKED + COMPLAINED + UNSUBSCRIBED) * (
    1 + DUPLICATED + RETRIED
)

#: Customer events one delivery may end with (campaigns.webhooks and campaigns.tracking).
EVENT_NAMES = (
    "email_delivered",
    "email_bounced",
    "email_opened",
    "email_clicked",
    "email_complained",
    "email_unsubscribed",
)


@dataclass(frozen=True)
class Sent:
    """One email as dispatch recorded it."""

    delivery_id: int
    email: str
    message_id: str
    tag: str
    #: Ladder's click redirect for one of the email's links (campaigns.tokens.click_url).
    click_url: str


@dataclass
class Expected:
    """What the database must hold once every event of a stream was posted."""

    #: delivery id -> final status
    status: dict[int, str] = field(default_factory=dict)
    #: (delivery id, customer event name) -> how many; pairs not listed must have none
    events: Counter = field(default_factory=Counter)
    #: delivery ids whose email_delivered may be 0 or 1 (a Delivery record racing a bounce)
    racing: set[int] = field(default_factory=set)
    #: addresses that must be suppressed (hard bounces and complaints); no other may be
    suppressed: set[str] = field(default_factory=set)
    #: delivery ids whose consent must be withdrawn (complaints and unsubscribes)
    withdrawn: set[int] = field(default_factory=set)
    #: distinct provider events, each stored once
    provider_events: int = 0

    def update(self, other: "Expected") -> None:
        self.status.update(other.status)
        self.events.update(other.events)
        self.racing |= other.racing
        self.suppressed |= other.suppressed
        self.withdrawn |= other.withdrawn
        self.provider_events += other.provider_events


@dataclass
class Stream:
    #: Bodies posted first, then (once every first-wave answer is in) the second wave.
    first: list[bytes]
    second: list[bytes]
    expected: Expected

    @property
    def waves(self) -> tuple[list[bytes], list[bytes]]:
        return self.first, self.second

    @property
    def posts(self) -> int:
        return len(self.first) + len(self.second)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Payloads:
    """Postmark's tracking payloads about one email sent at ``at``; bounce and
    complaint ids come from ``ids``."""

    def __init__(self, sent: Sent, at: datetime, ids: Iterator[int]) -> None:
        self.sent, self.at, self.ids = sent, at, ids

    def _common(self, record_type: str) -> dict:
        return {
            "RecordType": record_type,
            "ServerID": 23,
            "MessageStream": "broadcast",
            "MessageID": self.sent.message_id,
            "Recipient": self.sent.email,
            "Tag": self.sent.tag,
            # Dispatch sends delivery_id as metadata; Postmark echoes it as a string.
            "Metadata": {"delivery_id": str(self.sent.delivery_id)},
        }

    def delivery(self, seconds: int) -> dict:
        return self._common("Delivery") | {
            "DeliveredAt": _iso(self.at + timedelta(seconds=seconds)),
            "Details": "smtp;250 2.0.0 OK",
        }

    def bounce(self, kind: str, record_type: str = "Bounce") -> dict:
        return self._common(record_type) | {
            "ID": next(self.ids),
            "Type": kind,
            "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "SpamComplaint": 512}[kind],
            "Name": kind,
            "Email": self.sent.email,
            "From": "news@ladder.localhost",
            "BouncedAt": _iso(self.at + timedelta(minutes=2)),
            "Description": "The server was unable to deliver your message.",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "DumpAvailable": False,
            "Inactive": kind != "SoftBounce",
            "CanActivate": True,
            "Subject": "Your picks are in",
        }

    def opened(self) -> dict:
        return self._common("Open") | {
            "FirstOpen": True,
            "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
            "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
            "Platform": "WebMail",
            "UserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0",
            "ReadSeconds": 12,
            "Geo": {},
            "ReceivedAt": _iso(self.at + timedelta(hours=2)),
        }

    def clicked(self) -> dict:
        return self._common("Click") | {
            "ClickLocation": "HTML",
            "Platform": "Desktop",
            "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
            "OriginalLink": self.sent.click_url,
            "Geo": {"IP": "192.0.2.10"},
            "ReceivedAt": _iso(self.at + timedelta(hours=3)),
        }

    def unsubscribed(self) -> dict:
        return self._common("SubscriptionChange") | {
            "ChangedAt": _iso(self.at + timedelta(hours=4)),
            "Origin": "Recipient",
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
        }


@dataclass(frozen=True)
class Fate:
    """What happens to one email, as its webhooks will tell."""

    #: Postmark's bounce type, or None when it was delivered.
    bounce: str | None = None
    #: A bounced email's Delivery record races the bounce (else it comes late).
    racing: bool = False
    opened: bool = False
    clicked: bool = False
    complained: bool = False
    unsubscribed: bool = False


#: The first emails of every stream meet each fate once, so that even a smoke
#: run of a few hundred posts checks every path; the rest are drawn at random.
EVERY_FATE = (
    Fate(bounce="HardBounce", racing=True),
    Fate(bounce="HardBounce"),
    Fate(bounce="SoftBounce", racing=True),
    Fate(bounce="SoftBounce"),
    Fate(opened=True, clicked=True),
    Fate(opened=True, complained=True),
    Fate(unsubscribed=True),
)


def fate_draw(rng: random.Random) -> Fate:
    roll = rng.random()
    if roll < HARD_BOUNCE + SOFT_BOUNCE:
        kind = "HardBounce" if roll < HARD_BOUNCE else "SoftBounce"
        return Fate(bounce=kind, racing=rng.random() < RACING_DELIVERY)
    opened, clicked, after = rng.random() < OPENED, rng.random() < CLICKED, rng.random()
    return Fate(
        opened=opened,
        clicked=clicked,
        complained=after < COMPLAINED,
        unsubscribed=COMPLAINED <= after < COMPLAINED + UNSUBSCRIBED,
    )


def stream_build(
    sent: list[Sent], *, sent_at: datetime, rng: random.Random, first_id: int = 1
) -> Stream:
    """The posts about ``sent`` (all sent at ``sent_at``) and what they must leave.

    Bounce ids start at ``first_id``; streams built for one database must not
    share any, or their events would be duplicates of each other's.
    """
    ids = iter(range(first_id, first_id + 2 * len(sent) + 1))
    first: list[dict] = []
    second: list[dict] = []
    expected = Expected()
    for n, one in enumerate(sent):
        fate = EVERY_FATE[n] if n < len(EVERY_FATE) else fate_draw(rng)
        payloads = Payloads(one, sent_at, ids)
        pk = one.delivery_id
        if fate.bounce:
            first.append(payloads.bounce(fate.bounce))
            expected.status[pk] = "bounced"
            expected.events[pk, "email_bounced"] = 1
            if fate.bounce == "HardBounce":
                expected.suppressed.add(one.email)
            if fate.racing:
                expected.racing.add(pk)
            (first if fate.racing else second).append(payloads.delivery(seconds=5))
            continue
        first.append(payloads.delivery(seconds=5))
        expected.status[pk] = "delivered"
        expected.events[pk, "email_delivered"] = 1
        if fate.opened:
            first.append(payloads.opened())
            expected.events[pk, "email_opened"] = 1
        if fate.clicked:
            first.append(payloads.clicked())
            expected.events[pk, "email_clicked"] = 1
        if fate.complained:
            first.append(payloads.bounce("SpamComplaint", record_type="SpamComplaint"))
            expected.events[pk, "email_complained"] = 1
            expected.suppressed.add(one.email)
            expected.withdrawn.add(pk)
        if fate.unsubscribed:
            first.append(payloads.unsubscribed())
            expected.events[pk, "email_unsubscribed"] = 1
            expected.withdrawn.add(pk)
    expected.provider_events = len(first) + len(second)

    rng.shuffle(first)
    second += rng.sample(first, round(RETRIED * len(first)))
    rng.shuffle(second)
    doubled = set(rng.sample(range(len(first)), round(DUPLICATED * len(first))))
    bodies = [orjson.dumps(payload) for payload in first]
    return Stream(
        first=[body for n, body in enumerate(bodies) for _ in range(2 if n in doubled else 1)],
        second=[orjson.dumps(payload) for payload in second],
        expected=expected,
    )
