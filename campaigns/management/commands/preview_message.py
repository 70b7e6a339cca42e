"""``python manage.py preview_message KEY --customer EMAIL``: render a variant, or send a test."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Message
from campaigns.preview import customer_lookup, variant_preview, variant_test_send
from campaigns.rendering import RenderFailed


class Command(BaseCommand):
    help = "Render a message variant as one customer would get it; optionally send a test."

    def add_arguments(self, parser):
        parser.add_argument("message", help="message key")
        parser.add_argument("--customer", required=True, help="the customer's email or id")
        parser.add_argument("--variant", help="variant key (default: the first)")
        parser.add_argument("--html", type=Path, help="write the HTML part to this file")
        parser.add_argument("--send-test", metavar="ADDRESS", help="send it, marked [TEST]")

    def handle(
        self,
        *args,
        message: str,
        customer: str,
        variant: str | None,
        html: Path | None,
        send_test: str | None,
        **options,
    ):
        found = Message.objects.filter(key=message).first()
        if found is None:
            raise CommandError(f"There is no message {message!r}.")
        variants = found.variants.order_by("key")
        chosen = variants.filter(key=variant).first() if variant else variants.first()
        if chosen is None:
            keys = ", ".join(variants.values_list("key", flat=True)) or "none"
            raise CommandError(f"Message {message!r} has no variant {variant!r} (it has: {keys}).")
        person = customer_lookup(customer)
        if person is None:
            raise CommandError(f"There is no customer {customer!r}.")
        try:
            if send_test:
                rendered = variant_test_send(variant=chosen, customer=person, to=send_test)
            else:
                rendered = variant_preview(variant=chosen, customer=person)
        except RenderFailed as exc:
            raise CommandError(f"{message}/{chosen.key} cannot be rendered: {exc}") from None
        if html is not None:
            html.write_text(rendered.html, encoding="utf-8")
        self.stdout.write(f"Subject: {rendered.subject}\n\n{rendered.text}")
        if send_test:
            self.stdout.write(f"\nTest sent to {send_test}.")
