"""Transactional emails of the customers app (not marketing: no consent needed)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from customers.models import Customer, Topic
from customers.services.consent import confirmation_token


def consent_confirmation_email_send(*, customer: Customer, topic: Topic) -> None:
    """Email the double opt-in link that turns a pending consent into granted."""
    token = confirmation_token(customer=customer, topic=topic)
    context = {
        "customer": customer,
        "topic": topic,
        "confirm_url": settings.LADDER_SITE_URL + reverse("consent-confirm", args=[token]),
    }
    message = EmailMultiAlternatives(
        subject=f"Please confirm: {topic.name}",
        body=render_to_string("customers/email/consent_confirm.txt", context),
        to=[customer.email],
    )
    message.attach_alternative(
        render_to_string("customers/email/consent_confirm.html", context), "text/html"
    )
    message.send()
