"""django-post-office queueing and sending Ladder's emails, for bench.delivery.

Two phases, as post_office is used:

1. **Queue** (Celery task ``post_office_queue``, on the same two workers as
   Ladder): for a range of deliveries, the same personalized email Ladder
   sends — contexts in one query per batch, consent checked, Ladder's
   ``render_email`` with tracked links, List-Unsubscribe and a Message-ID
   naming the delivery — queued with ``mail.send_many`` (one ``bulk_create``
   per 500). The comparison is post_office's queue and send machinery, not
   its templates.
2. **Send**: ``python -m bench.post_office_run send --processes 2`` runs
   ``manage.py send_queued_mail --processes 2`` (a process per core, each with
   ``THREADS_PER_PROCESS`` threads, see bench/post_office_settings.py) through
   anymail's Postmark backend, one HTTP call per email: post_office cannot use
   a batch endpoint. Prints one JSON line: seconds and peak memory.

Run with ``DJANGO_SETTINGS_MODULE=bench.post_office_settings``.
"""

import argparse
import json
import os
import resource
import sys
import time

from celery import shared_task


@shared_task(ignore_result=True)
def post_office_queue(first_id: int, last_id: int) -> int:
    """Queue the deliveries with ids in [first_id, last_id]; returns how many."""
    from post_office import mail

    from campaigns.context import context_of, customer_dict, recent_events
    from campaigns.dispatch.compose import display_name, message_id
    from campaigns.dispatch.links import BatchLinks
    from campaigns.models import Delivery, Message, Variant
    from campaigns.rendering import render_email
    from campaigns.senders import sender_for
    from campaigns.tokens import (
        list_unsubscribe_headers,
        open_pixel_url,
        preferences_url,
        unsubscribe_url,
    )
    from customers.models import Consent, ConsentStatus, Customer

    deliveries = list(
        Delivery.objects.filter(pk__range=(first_id, last_id)).only(
            "id", "customer_id", "message_id", "variant_id"
        )
    )
    customers = Customer.objects.in_bulk([d.customer_id for d in deliveries])
    messages = Message.objects.in_bulk({d.message_id for d in deliveries})
    variants = Variant.objects.in_bulk({d.variant_id for d in deliveries})
    granted = set(
        Consent.objects.filter(
            customer_id__in=list(customers),
            topic_id__in={m.topic_id for m in messages.values()},
            status=ConsentStatus.GRANTED,
        ).values_list("customer_id", "topic_id")
    )
    events = recent_events(list(customers))
    links = BatchLinks()
    rendered = []
    for delivery in deliveries:
        customer = customers[delivery.customer_id]
        message = messages[delivery.message_id]
        variant = variants[delivery.variant_id]
        if (customer.pk, message.topic_id) not in granted:
            continue
        context = context_of(
            customer_dict(customer),
            events.get(customer.pk, []),
            message_key=message.key,
            variant_key=variant.key,
        )
        unsubscribe, preferences = unsubscribe_url(delivery.pk), preferences_url(customer.pk)
        email = render_email(
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
        rendered.append((delivery, customer, message, email))
    if links.pending:
        links.register()
    queued = []
    for delivery, customer, message, email in rendered:
        sender = sender_for(message.sender)
        name = display_name(customer.full_name)
        queued.append(
            {
                "recipients": [f"{name} <{customer.email}>" if name else customer.email],
                "sender": sender,
                "subject": email.subject,
                "message": email.text,
                "html_message": links.fill(email.html),
                "headers": {
                    **list_unsubscribe_headers(delivery.pk),
                    "Message-ID": message_id(delivery.pk, sender),
                },
            }
        )
    for start in range(0, len(queued), 500):
        mail.send_many(queued[start : start + 500])
    return len(queued)


def send(processes: int, lockfile: str) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("send_queued_mail", processes=processes, lockfile=lockfile, log_level=0)
    seconds = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest reaped child
    # (post_office's pool processes).
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": {
            "parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_child": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            ),
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.post_office_run", description=__doc__)
    parser.add_argument("command", choices=["send"])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lockfile", default="/tmp/ladder-bench-post-office")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.post_office_settings")
    print(json.dumps(send(args.processes, args.lockfile)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
