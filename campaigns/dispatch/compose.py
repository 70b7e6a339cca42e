"""One rendered email for one delivery, as the ``EmailMessage`` a backend sends.

Every header that carries customer data is built so that it cannot carry a
header of its own: the subject comes out of the renderer on one line, the
display name loses its control characters here, and Django refuses any
header value with a line break as a last line of defence.
"""

import re
import secrets
from email.utils import parseaddr

from django.core.mail import EmailMultiAlternatives

from campaigns.rendering import RenderedEmail
from campaigns.tokens import list_unsubscribe_headers

#: Control characters (CR and LF among them) and the separators of an address list.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f,;<>\"]+")


def display_name(name: str) -> str:
    """A customer's name, safe for a To header: one line, no address syntax."""
    return " ".join(_UNSAFE_NAME.sub(" ", name).split())[:100]


def _mailbox(name: str, address: str) -> str:
    # Quoted as is: Django encodes non-ASCII names itself (RFC 2047) when it
    # writes the header; display_name() has removed quotes and line breaks.
    name = display_name(name)
    return f'"{name}" <{address}>' if name else address


def message_id(delivery_id: int, sender: str) -> str:
    """A Message-ID unique to this delivery and attempt, at the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "ladder.localhost"
    return f"<ladder.{delivery_id}.{secrets.token_hex(8)}@{domain}>"


def email_message(
    *,
    delivery_id: int,
    rendered: RenderedEmail,
    sender: str,
    reply_to: str,
    to_email: str,
    to_name: str,
    tags: list[str],
    metadata: dict[str, str],
    connection=None,
) -> EmailMultiAlternatives:
    """The message, with RFC 8058 one-click unsubscribe, a unique Message-ID, and
    anymail tags/metadata (which providers echo back in their webhooks)."""
    headers = list_unsubscribe_headers(delivery_id)
    headers["Message-ID"] = message_id(delivery_id, sender)
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=sender,
        to=[_mailbox(to_name, to_email)],
        reply_to=[reply_to] if reply_to else None,
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(rendered.html, "text/html")
    message.tags = tags
    message.metadata = metadata
    return message
