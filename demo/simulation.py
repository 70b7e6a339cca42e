"""Thirty days of Ladder on a simulated clock, with customers who answer through the real URLs.

The month goes by in ticks of four simulated hours (``TICK``). In each:

1. what customers do in the tick happens at its exact simulated time, through
   Ladder's own endpoints in-process (Django's test client): the open pixel,
   the signed click redirect, RFC 8058 one-click unsubscribe and the
   unsubscribe page, Postmark's bounce and complaint webhooks (through
   anymail, with basic auth). Once a night the shop's new sign-ups arrive as
   a CSV file through ``import_customers`` (consent with its proof), and beat
   runs the lifecycle sweep;
2. the shop posts the tick's orders, reviews and referrals to the HTTP API
   (``POST /api/v1/events/batch``);
3. beat's engine tick runs, and the worker (``demo.worker``) runs everything
   queued: lifecycle refreshes, the journey engine, dispatch, which writes
   each email as an ``.eml`` file;
4. every new email is read as its recipient's mail app would
   (``demo.mailbox``), and what the recipient will do with it
   (``demo.behaviour``) is scheduled.

Nothing writes Ladder's tables directly; the database is read to know which
variant an email is (the recipient's "taste") and, at the end, to report.
"""

import base64
import csv
import heapq
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

from campaigns.models import Delivery
from config import clock
from config.clock import Simulation
from customers.services.api_keys import api_key_create
from customers.tasks import lifecycle_sweep
from demo.behaviour import (
    Persona,
    Reaction,
    day_of,
    order_value,
    persona_new,
    product_pick,
    reaction,
)
from demo.mailbox import Outbox, Received
from demo.seed import profile_new
from demo.stopwatch import Stopwatch
from demo.store import CONSENT_TEXT, CONSENT_TEXT_VERSION, CURRENCY, REFERRAL_PATH, product_at
from demo.worker import TickWorker
from journeys.tasks import engine_tick

#: Beat's engine tick and the worker's wake-up, in simulated time. Customers act
#: at their own moments in between; what they set off waits for the next tick.
TICK = timedelta(hours=4)
#: When the shop's nightly export of yesterday's sign-ups is imported (UTC).
SIGNUP_IMPORT_HOUR = 2
#: Share of sign-ups who tick the newsletter box.
SIGNUP_CONSENT_SHARE = 0.88
#: The API accepts at most this many events per batch.
EVENTS_PER_REQUEST = 1000
#: The embedded default backend: one .eml file per email, which the customers read.
OUTBOX_BACKEND = "config.mail.EmlOutboxBackend"
#: Postmark's webhook user; the password is made up per run.
WEBHOOK_USER = "postmark"


class DemoFailed(RuntimeError):
    """An endpoint answered what a customer or the provider would not expect."""


class Shop:
    """Everything outside Ladder that talks to it, through its real URLs."""

    def __init__(self, *, api_key: str, webhook_secret: str, stopwatch: Stopwatch) -> None:
        self.stopwatch = stopwatch
        self.client = Client(HTTP_USER_AGENT="Mozilla/5.0 (demo customer)")
        self.api_headers = {"Authorization": f"Bearer {api_key}"}
        user, password = webhook_secret.split(":", 1)
        self.webhook_auth = (user, password)

    def _expect(self, response, *statuses: int, what: str):
        """The response, if its status is one of ``statuses``; ``DemoFailed`` if not."""
        if response.status_code not in statuses:
            raise DemoFailed(f"{what}: HTTP {response.status_code}: {response.content[:300]!r}")
        return response

    def events(self, events: list[dict]) -> None:
        for start in range(0, len(events), EVENTS_PER_REQUEST):
            with self.stopwatch.timing("POST /api/v1/events/batch"):
                response = self.client.post(
                    "/api/v1/events/batch",
                    {"events": events[start : start + EVENTS_PER_REQUEST]},
                    content_type="application/json",
                    headers=self.api_headers,
                )
            self._expect(response, 202, what="POST /api/v1/events/batch")

    def open(self, path: str) -> None:
        with self.stopwatch.timing("GET /t/o/ (open pixel)"):
            response = self.client.get(path)
        self._expect(response, 200, what=f"GET {path}")

    def click(self, path: str) -> str:
        """Follow a tracked link; the shop page it redirects to."""
        with self.stopwatch.timing("GET /t/c/ (click redirect)"):
            response = self.client.get(path)
        return self._expect(response, 302, what=f"GET {path}")["Location"]

    def unsubscribe(self, path: str, *, everything: bool) -> None:
        # A mail app's RFC 8058 one-click POST, or the page's button.
        data = {"scope": "all"} if everything else {"List-Unsubscribe": "One-Click"}
        with self.stopwatch.timing("POST /t/u/ (unsubscribe)"):
            response = self.client.post(path, data)
        self._expect(response, 200, what=f"POST {path}")

    def webhook(self, payload: dict) -> None:
        token = base64.b64encode(":".join(self.webhook_auth).encode()).decode()
        with self.stopwatch.timing("POST /anymail/postmark/tracking/"):
            response = self.client.post(
                "/anymail/postmark/tracking/",
                payload,
                content_type="application/json",
                headers={"Authorization": f"Basic {token}"},
            )
        self._expect(response, 200, what="Postmark webhook")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def postmark_bounce(email: Received, at: datetime, *, complaint: bool) -> dict:
    """What Postmark posts for a hard bounce or a spam complaint (its documented shape)."""
    kind = "SpamComplaint" if complaint else "HardBounce"
    return {
        "RecordType": kind if complaint else "Bounce",
        "ID": email.delivery_id * 10 + complaint,
        "Type": kind,
        "TypeCode": 512 if complaint else 1,
        "Name": "Spam complaint" if complaint else "Hard bounce",
        "MessageID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ladder-demo:{email.delivery_id}")),
        "MessageStream": "broadcast",
        "Description": "The recipient marked it as spam."
        if complaint
        else "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "" if complaint else "smtp;550 5.1.1 The email account does not exist.",
        "Email": email.to,
        "From": settings.LADDER_SENDERS[0],
        "BouncedAt": _iso(at),
        "Inactive": True,
        "CanActivate": not complaint,
        "Subject": email.subject,
        "Metadata": {"delivery_id": str(email.delivery_id)},
    }


@dataclass
class Tally:
    """What the simulated customers did, as they did it (not read back from Ladder)."""

    counts: Counter = field(default_factory=Counter)
    revenue: dict = field(default_factory=Counter)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    run: Callable[[], None] = field(compare=False)


class Month:
    """The simulated month: customers, their inboxes, and the queue of what they will do."""

    def __init__(
        self,
        *,
        seed: int,
        personas: list[Persona],
        worker: TickWorker,
        outbox: Path,
        signups_dir: Path,
        signups_per_day: int,
    ) -> None:
        self.seed = seed
        self.personas = list(personas)
        self.by_email = {p.email: p for p in personas}
        self.worker = worker
        self.outbox = Outbox(outbox)
        self.signups_dir = signups_dir
        self.signups_per_day = signups_per_day
        self.tally = Tally()
        self.actions: list[_Action] = []
        self.sequence = itertools.count()
        self.orders = itertools.count(1)
        self.pending: list[dict] = []
        secret = f"{WEBHOOK_USER}:{uuid.uuid4().hex}"
        self.webhook_secret = secret
        self.stopwatch = worker.stopwatch
        _, raw_key = api_key_create(name="Leaf & Kettle shop (demo)")
        self.shop = Shop(api_key=raw_key, webhook_secret=secret, stopwatch=self.stopwatch)

    # --- scheduling ----------------------------------------------------------

    def at(self, when: datetime, run: Callable[[], None]) -> None:
        heapq.heappush(self.actions, _Action(when, next(self.sequence), run))

    def _event(self, persona: Persona, name: str, at: datetime, **fields) -> None:
        """An event the shop will post with the tick's batch."""
        self.pending.append(
            {
                "external_id": persona.external_id,
                "name": name,
                "occurred_at": _iso(at),
                "idempotency_key": f"demo-{name}-{next(self.orders)}",
                **fields,
            }
        )
        if name != "purchase":
            self.tally.add(name)

    def _purchase(self, persona: Persona, at: datetime, product=None, *, prompted: bool) -> None:
        rng = random.Random(f"{self.seed}:order:{persona.external_id}:{at.isoformat()}")
        product = product or product_pick(rng)
        quantity, value = order_value(rng, product)
        self._event(
            persona,
            "purchase",
            at,
            value=str(value),
            currency=CURRENCY,
            properties={
                "sku": product.sku,
                "product": product.name,
                "quantity": quantity,
                "url": product.url,
            },
        )
        self.tally.add("purchase after an email" if prompted else "purchase (unprompted)")
        self.tally.revenue[prompted] += value
        if persona.segment in ("prospect", "new"):
            persona.segment = "customer"

    # --- one email -------------------------------------------------------------

    def _reactions(self, emails: list[Received]) -> None:
        deliveries = dict(
            (pk, rest)
            for pk, *rest in Delivery.objects.filter(pk__in=[e.delivery_id for e in emails])
            .values_list("pk", "message__key", "variant__key", "sent_at")
            .iterator()
        )
        for received in emails:
            persona = self.by_email.get(received.to)
            message, variant, sent_at = deliveries[received.delivery_id]
            if persona is None:
                continue
            self.tally.add("emails received")
            todo = reaction(
                seed=self.seed,
                delivery_id=received.delivery_id,
                persona=persona,
                message=message,
                variant=variant,
                links=len(received.clicks),
                sent_at=sent_at,
            )
            self._schedule(received, persona, todo)

    def _schedule(self, email: Received, persona: Persona, todo: Reaction) -> None:
        if todo.bounce_at:
            self.at(todo.bounce_at, partial(self._webhook, email, todo.bounce_at, complaint=False))
        if todo.prefetch_at and email.pixel:
            self.at(todo.prefetch_at, partial(self._open, email, "image prefetch"))
        if todo.open_at and email.pixel:
            self.at(todo.open_at, partial(self._open, email, "open"))
        if todo.unsubscribe_at:
            self.at(todo.unsubscribe_at, partial(self._unsubscribe, email, todo.unsubscribe_all))
        if todo.complain_at:
            self.at(
                todo.complain_at, partial(self._webhook, email, todo.complain_at, complaint=True)
            )
        if todo.click_at:
            self.at(todo.click_at, partial(self._click, email, persona, todo))

    def _webhook(self, email: Received, at: datetime, *, complaint: bool) -> None:
        self.shop.webhook(postmark_bounce(email, at, complaint=complaint))
        self.tally.add("spam complaint (webhook)" if complaint else "hard bounce (webhook)")

    def _open(self, email: Received, label: str) -> None:
        self.shop.open(email.pixel)
        self.tally.add(label)

    def _unsubscribe(self, email: Received, everything: bool) -> None:
        self.shop.unsubscribe(email.unsubscribe, everything=everything)
        self.tally.add("unsubscribe from everything" if everything else "unsubscribe (one-click)")

    def _click(self, email: Received, persona: Persona, todo: Reaction) -> None:
        target = self.shop.click(email.clicks[todo.link])
        self.tally.add("click")
        if todo.buy_after is None:
            return
        when = clock.now() + timedelta(minutes=todo.buy_after)
        if target.endswith(REFERRAL_PATH):
            self.at(
                when, partial(self._event, persona, "referral", when, properties={"via": "email"})
            )
        else:
            # Bought what the page showed, or, from a page of many, whatever caught the eye.
            self.at(when, partial(self._purchase, persona, when, product_at(target), prompted=True))

    # --- the days ----------------------------------------------------------------

    def _day(self, day: datetime) -> None:
        """Schedule the day's unprompted purchases and reviews, the sign-up import, the sweep."""
        for doing in day_of(self.seed, day, self.personas):
            if doing.name == "purchase":
                self.at(doing.at, partial(self._purchase, doing.persona, doing.at, prompted=False))
            else:
                review = partial(self._event, doing.persona, doing.name, doing.at)
                self.at(doing.at, partial(review, properties={"rating": 5}))
        self.at(day + timedelta(hours=SIGNUP_IMPORT_HOUR), partial(self._signups, day))
        sweep = day + timedelta(hours=settings.LADDER_SWEEP_HOUR, minutes=15)
        self.at(sweep, self._sweep)

    def _sweep(self) -> None:
        """What beat does every night: recompute everyone (engagement decays, buyers lapse)."""
        lifecycle_sweep.delay()

    def _signups(self, day: datetime) -> None:
        """Yesterday's sign-ups, exported by the shop as CSV and imported with consent."""
        yesterday = day - timedelta(days=1)
        rng = random.Random(f"{self.seed}:signups:{yesterday:%Y-%m-%d}")
        count = max(0, round(rng.gauss(self.signups_per_day, self.signups_per_day**0.5)))
        if not count:
            return
        path = self.signups_dir / f"signups-{yesterday:%Y-%m-%d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = ("email", "external_id", "first_name", "last_name", "locale", "time_zone")
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow((*columns, "birthday", "newsletter"))
            for _ in range(count):
                number = len(self.personas)
                email, external_id, profile = profile_new(
                    rng, number=number, prefix="web", signed_up=yesterday
                )
                persona = persona_new(rng, email=email, external_id=external_id, segment="new")
                self.personas.append(persona)
                self.by_email[email] = persona
                # An unticked box says nothing: the import records no consent either way.
                consent = "yes" if rng.random() < SIGNUP_CONSENT_SHARE else ""
                writer.writerow(
                    (
                        *(getattr(profile, c) for c in columns),
                        profile.attributes["birthday"],
                        consent,
                    )
                )
        with self.stopwatch.timing("import_customers (sign-ups)"):
            self._import(path)
        self.tally.add("sign-ups (CSV import)", count)

    def _import(self, path: Path) -> None:
        call_command(
            "import_customers",
            path,
            "--map=attributes.birthday=birthday",
            "--consent=email_marketing=newsletter",
            f"--consent-text-version={CONSENT_TEXT_VERSION}",
            f"--consent-text={CONSENT_TEXT}",
            "--consent-source=form",
            "--no-progress",
            stdout=StringIO(),
        )

    # --- the loop ------------------------------------------------------------------

    def run(self, simulation: Simulation, *, days: int, progress=None) -> None:
        """Run ``days`` simulated days on ``simulation``'s clock, from where it stands."""
        start = simulation.now
        end = start + timedelta(days=days)
        # Postmark's webhooks need a secret; and whatever EMAIL_BACKEND says, the
        # demo's made-up customers only ever get .eml files.
        anymail = {**settings.ANYMAIL, "WEBHOOK_SECRET": self.webhook_secret}
        with override_settings(ANYMAIL=anymail, EMAIL_BACKEND=OUTBOX_BACKEND):
            tick_end = start
            while tick_end < end:
                if (tick_end - start) % timedelta(days=1) == timedelta(0):
                    self._day(tick_end)
                tick_end += TICK
                self._tick(simulation, tick_end)
                if progress is not None:
                    progress(TICK, self.tally)

    def _tick(self, simulation: Simulation, tick_end: datetime) -> None:
        while self.actions and self.actions[0].at < tick_end:
            action = heapq.heappop(self.actions)
            simulation.set(max(action.at, simulation.now))
            action.run()
        simulation.set(tick_end)
        if self.pending:
            self.shop.events(self.pending)
            self.pending = []
        engine_tick.delay()
        self.worker.run()
        with self.stopwatch.timing("reading the new .eml files"):
            emails = self.outbox.new()
        if emails:
            self._reactions(emails)
