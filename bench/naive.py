"""The naive sender bench.delivery compares Ladder with: one Celery task per email.

What a team writes first: for each delivery, a task that loads the delivery,
its customer and message through the ORM, checks consent, builds the context,
renders, sends through anymail with a connection of its own (as
``send_mail`` would) and saves the row. It sends the same email as Ladder —
same context, ``render_email``, tracked links, List-Unsubscribe, Message-ID,
tags and metadata — so the difference measured is the machinery around it:
a task, a dozen queries and a new HTTP connection per email.

Bench code only: the workers import it through ``bench.naive_settings``.
"""

from dataclasses import replace

from celery import shared_task


@shared_task(ignore_result=True)
def naive_send(delivery_id: int) -> None:
    from django.core.mail import get_connection

    from campaigns.context import context_of, customer_dict, recent_events
    from campaigns.dispatch.compose import OutboundEmail
    from campaigns.dispatch.links import BatchLinks
    from campaigns.models import Delivery
    from campaigns.rendering import render_email
    from campaigns.senders import sender_for
    from campaigns.tokens import open_pixel_url, preferences_url, unsubscribe_url
    from config import clock
    from customers.models import Consent, ConsentStatus, Suppression

    delivery = Delivery.objects.select_related(
        "customer", "message", "message__topic", "variant"
    ).get(pk=delivery_id)
    if delivery.status != Delivery.Status.QUEUED:
        return
    customer, message, variant = delivery.customer, delivery.message, delivery.variant
    allowed = (
        customer.email
        and Consent.objects.filter(
            customer=customer, topic=message.topic, status=ConsentStatus.GRANTED
        ).exists()
        and not Suppression.objects.filter(address_hash=customer.email_hash).exists()
    )
    if not allowed:
        delivery.status = Delivery.Status.SKIPPED
        delivery.error = "no consent"
        delivery.updated_at = clock.now()
        delivery.save()
        return

    events = recent_events([customer.pk]).get(customer.pk, [])
    context = context_of(
        customer_dict(customer), events, message_key=message.key, variant_key=variant.key
    )
    unsubscribe, preferences = unsubscribe_url(delivery.pk), preferences_url(customer.pk)
    links = BatchLinks()
    rendered = render_email(
        subject=variant.subject,
        preheader=variant.preheader,
        html=variant.html_body,
        text=variant.text_body,
        context=context,
        track_link=links.tracker(delivery_id=delivery.pk, variant_id=variant.pk),
        open_pixel_url=open_pixel_url(delivery.pk),
        unsubscribe_url=unsubscribe,
        preferences_url=preferences,
    )
    if links.pending:
        links.register()
        rendered = replace(rendered, html=links.fill(rendered.html))
    email = OutboundEmail.build(
        delivery_id=delivery.pk,
        rendered=rendered,
        sender=sender_for(message.sender),
        reply_to=message.reply_to,
        to_email=customer.email,
        to_name=customer.full_name,
        tag=message.key,
        metadata={"delivery_id": str(delivery.pk), "variant": variant.key},
    ).message(connection=get_connection())  # a new connection per email, as send_mail() makes
    email.send()
    now = clock.now()
    delivery.status = Delivery.Status.SENT
    delivery.attempts += 1
    delivery.handed_at = delivery.sent_at = delivery.updated_at = now
    delivery.provider_message_id = str(email.anymail_status.message_id or "")
    delivery.save()
