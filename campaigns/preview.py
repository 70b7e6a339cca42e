"""Previews and test sends: any variant, rendered for a chosen customer."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from campaigns.context import contexts_for
from campaigns.models import Variant
from campaigns.rendering import RenderedEmail, render_email
from campaigns.tokens import preferences_url
from customers.models import Customer

#: Subject prefix of a test send, so nobody mistakes it for the real thing.
TEST_PREFIX = "[TEST] "


def customer_lookup(text: str) -> Customer | None:
    """A customer by id or email address, as a person types it; never an erased one."""
    text = text.strip()
    lookup = {"pk": int(text)} if text.isdigit() else {"email": text.lower()}
    return Customer.objects.filter(erased_at__isnull=True, **lookup).first()


def variant_preview(*, variant: Variant, customer: Customer) -> RenderedEmail:
    """Render as the customer would receive it, links untracked (a preview is not
    a delivery, so nothing is counted and no unsubscribe link can act)."""
    context = contexts_for([customer], message_key=variant.message.key, variant_key=variant.key)[
        customer.pk
    ]
    # Not a signed link: a preview must never be able to unsubscribe anyone.
    unsubscribe = f"{settings.LADDER_SITE_URL}/t/u/preview"
    preferences = preferences_url(customer.pk)
    return render_email(
        subject=variant.subject,
        preheader=variant.preheader,
        html=variant.html_body,
        text=variant.text_body,
        context={**context, "unsubscribe_url": unsubscribe, "preferences_url": preferences},
        unsubscribe_url=unsubscribe,
        preferences_url=preferences,
    )


def variant_test_send(*, variant: Variant, customer: Customer, to: str) -> RenderedEmail:
    """Send the preview to any address, marked as a test; no delivery is recorded."""
    rendered = variant_preview(variant=variant, customer=customer)
    message = EmailMultiAlternatives(
        subject=TEST_PREFIX + rendered.subject, body=rendered.text, to=[to]
    )
    message.attach_alternative(rendered.html, "text/html")
    message.send()
    return rendered
