"""One rendered email for one delivery, as the dispatcher hands it to a backend.

:class:`OutboundEmail` holds everything a provider needs, already made safe:
the subject comes out of the renderer on one line, the display name loses its
control characters and address syntax here, and every header value is built
from signed tokens and ids, never from customer text. A backend that knows
Ladder's emails (``send_outbound``, docs/backends.md) takes them as they are;
any other Django or anymail backend gets :meth:`OutboundEmail.message`, an
``EmailMultiAlternatives`` whose headers Django checks once more for line
breaks as a last line of defence.
"""

import re
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache

from django.core.mail import EmailMultiAlternatives

from campaigns.rendering import RenderedEmail
from campaigns.tokens import list_unsubscribe_headers

#: Control characters (CR and LF among them), the separators of an address
#: list, and what would end a quoted name early (a quote, a backslash).
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f,;<>\"\\]+")
#: One word of a display name that needs no quotes: no RFC 5322 special in it.
_WORD = r"[^\s\x00-\x1f\x7f()<>@,;:\\\".\[\]]+"
_PLAIN_NAME = re.compile(rf"{_WORD}(?: {_WORD})*")


def display_name(name: str) -> str:
    """A customer's name, safe for a To header: one line, no address syntax."""
    return " ".join(_UNSAFE_NAME.sub(" ", name).split())[:100]


def mailbox(name: str, address: str) -> str:
    """``Name <address>``, quoted only when the name holds a special (a dot, say).

    Non-ASCII names stay as they are: Django encodes them (RFC 2047) when it
    writes the header, and providers' JSON APIs take them as text. The plain
    form is also the one anymail writes, so backends need not parse it again.
    """
    name = display_name(name)
    if not name:
        return address
    if _PLAIN_NAME.fullmatch(name):
        return f"{name} <{address}>"
    return f'"{name}" <{address}>'


@lru_cache(maxsize=64)
def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "ladder.localhost"


def message_id(delivery_id: int, sender: str) -> str:
    """A Message-ID unique to this delivery and attempt, at the sender's domain."""
    return f"<ladder.{delivery_id}.{secrets.token_hex(8)}@{_domain(sender)}>"


@dataclass(slots=True)
class OutboundEmail:
    """A rendered marketing email with its envelope, headers, tag and metadata.

    ``headers`` carry RFC 8058 one-click unsubscribe (``List-Unsubscribe`` with
    https and mailto, ``List-Unsubscribe-Post``) and a unique ``Message-ID``;
    ``tag`` and ``metadata`` are what providers echo back in their webhooks.
    """

    delivery_id: int
    from_email: str
    #: The recipient as a mailbox (``mailbox(name, address)``) and as a bare address.
    to: str
    to_address: str
    reply_to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    tag: str
    metadata: dict[str, str]

    @classmethod
    def build(
        cls,
        *,
        delivery_id: int,
        rendered: RenderedEmail,
        sender: str,
        reply_to: str,
        to_email: str,
        to_name: str,
        tag: str,
        metadata: dict[str, str],
        unsubscribe_token: str | None = None,
    ) -> "OutboundEmail":
        """The email for one delivery; ``unsubscribe_token`` saves signing it
        again when the caller already made one for the page links."""
        headers = list_unsubscribe_headers(delivery_id, token=unsubscribe_token)
        headers["Message-ID"] = message_id(delivery_id, sender)
        return cls(
            delivery_id=delivery_id,
            from_email=sender,
            to=mailbox(to_name, to_email),
            to_address=to_email,
            reply_to=reply_to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            headers=headers,
            tag=tag,
            metadata=metadata,
        )

    def message(self, connection=None) -> EmailMultiAlternatives:
        """The same email for any Django or anymail backend."""
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text,
            from_email=self.from_email,
            to=[self.to],
            reply_to=[self.reply_to] if self.reply_to else None,
            headers=dict(self.headers),
            connection=connection,
        )
        message.attach_alternative(self.html, "text/html")
        # One tag: some providers (Postmark) take no more.
        message.tags = [self.tag] if self.tag else []
        message.metadata = dict(self.metadata)
        return message
