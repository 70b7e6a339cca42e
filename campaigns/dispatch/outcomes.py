"""What a send attempt came to, from whatever the email backend said.

Backends speak three dialects: anymail raises ``AnymailAPIError`` with the
HTTP status (and sets ``anymail_status`` on messages it sent), Django's SMTP
backend raises ``smtplib`` exceptions with SMTP reply codes, and anything
else raises whatever it raises. They are reduced here to three outcomes:

- **sent**: the provider took it; keep its message id.
- **retry**: worth trying again later — HTTP 408/429/5xx, SMTP 4xx, a
  connection that failed or timed out. The provider's ``Retry-After`` is kept.
- **failed**: trying again cannot help — the address is invalid, the
  recipient refused, the request was malformed. ``suppress`` says whether the
  address itself is bad (never send there again) or only this message was.

An unknown exception is a ``retry``: a bug fixed before the attempts run out
then costs nothing, and the attempt limit stops an endless loop.
"""

import smtplib
import socket
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused

from customers.models import SuppressionReason


class Kind(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


#: HTTP statuses after which the same request may well succeed.
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
#: anymail recipient statuses that mean the provider took the message.
ACCEPTED = frozenset({"sent", "queued", "scheduled"})
#: anymail recipient statuses that say the address is bad, and how to suppress it.
BAD_ADDRESS = {"invalid": SuppressionReason.INVALID, "rejected": SuppressionReason.HARD_BOUNCE}


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reason: str = ""
    message_id: str = ""
    #: Seconds the provider asked us to wait before retrying, if it said.
    retry_after: float | None = None
    #: Set when the address must never be emailed again.
    suppress: SuppressionReason | None = None

    @property
    def transient(self) -> bool:
        return self.kind is Kind.RETRY


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def from_status(status) -> Outcome:
    """The outcome of a message a backend returned from without raising.

    ``status`` is anymail's ``AnymailStatus`` (or None for a backend that sets
    none, such as SMTP, which raises on every failure).
    """
    if status is None or not status.status:
        return Outcome(Kind.SENT)
    # One recipient per message, so one id; anymail gives a set when they differ.
    message_id = status.message_id
    if isinstance(message_id, set):
        message_id = ",".join(sorted(map(str, message_id)))
    message_id = "" if message_id is None else str(message_id)
    statuses = set(status.status)
    if statuses & ACCEPTED:
        return Outcome(Kind.SENT, message_id=message_id)
    for bad, reason in BAD_ADDRESS.items():
        if bad in statuses:
            return Outcome(Kind.FAILED, f"the provider says the address is {bad}", suppress=reason)
    return Outcome(
        Kind.FAILED, f"the provider refused it ({', '.join(sorted(statuses))}){_detail(status)}"
    )


def _detail(status) -> str:
    """The provider's own words about one refused message, when it gave any."""
    detail = getattr(status, "esp_response", None)
    if isinstance(detail, dict):
        detail = detail.get("Message") or detail.get("message")
    return f": {detail}" if isinstance(detail, str) and detail else ""


def from_batch_status(status) -> Outcome:
    """Like :func:`from_status`, for a backend that sends many messages per call
    and must set a status on each: no status means it did not send that one."""
    if status is None or not status.status:
        return Outcome(Kind.FAILED, "the backend did not send it (no status)")
    return from_status(status)


def _smtp(exc: smtplib.SMTPException) -> Outcome:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(
            f"{address}: {code} {message.decode(errors='replace')}"
            for address, (code, message) in exc.recipients.items()
        )
        if codes and all(400 <= code < 500 for code in codes):
            return Outcome(Kind.RETRY, f"recipient deferred: {text}")
        return Outcome(
            Kind.FAILED,
            f"recipient refused: {text}",
            suppress=SuppressionReason.INVALID
            if any(code in (550, 551, 553) for code in codes)
            else None,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        message = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        kind = Kind.RETRY if 400 <= exc.smtp_code < 500 else Kind.FAILED
        return Outcome(kind, f"SMTP {exc.smtp_code} {message}")
    # Disconnected, connect errors, protocol confusion: the server may be back soon.
    return Outcome(Kind.RETRY, f"SMTP: {type(exc).__name__}: {exc}")


def from_exception(exc: BaseException, *, now: datetime) -> Outcome:
    """The outcome of a send that raised ``exc``."""
    if isinstance(exc, AnymailRecipientsRefused):
        # anymail has set the recipient's status (invalid or rejected) before raising.
        message = getattr(exc, "email_message", None)
        status = getattr(message, "anymail_status", None)
        if status is not None and status.status and not set(status.status) & ACCEPTED:
            return from_status(status)
        return Outcome(Kind.FAILED, str(exc).splitlines()[0], suppress=SuppressionReason.INVALID)
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        wait = retry_after_seconds(headers.get("Retry-After"), now=now)
        summary = str(exc).splitlines()[0]
        if status is not None:
            summary = f"HTTP {status}: {summary}"
        if status is None or status in TRANSIENT_HTTP:
            return Outcome(Kind.RETRY, f"provider: {summary}", retry_after=wait)
        return Outcome(Kind.FAILED, f"provider: {summary}")
    if isinstance(exc, smtplib.SMTPException):
        return _smtp(exc)
    if isinstance(exc, (OSError, socket.timeout, TimeoutError)):
        return Outcome(Kind.RETRY, f"network: {type(exc).__name__}: {exc}")
    if isinstance(exc, AnymailError):
        # Serialization or unsupported-feature errors: this message cannot be sent as is.
        return Outcome(Kind.FAILED, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return Outcome(Kind.RETRY, f"{type(exc).__name__}: {exc}")
