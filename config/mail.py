"""The embedded default email backend: one ``.eml`` file per message.

Django's own file backend appends many messages to one log file; an ``.eml`` per
message opens directly in any mail client and is what ``make demo`` leaves
behind under ``var/outbox/``.
"""

import os
import uuid
from email.utils import format_datetime
from pathlib import Path

from anymail.message import AnymailRecipientStatus, AnymailStatus
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from config import clock
from config.mime import alternative_email


class EmlOutboxBackend(BaseEmailBackend):
    """Writes each message to ``EMAIL_OUTBOX_DIR/<utc-time>-<uuid>.eml``."""

    #: The dispatcher hands ``send_outbound`` this many emails at a time.
    batch_size = 100

    def __init__(self, *, outbox_dir: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.outbox_dir = Path(outbox_dir or settings.EMAIL_OUTBOX_DIR)

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S")
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            path = self.outbox_dir / f"{stamp}-{uuid.uuid4().hex}.eml"
            try:
                path.write_bytes(message.message().as_bytes(linesep="\r\n"))
            except OSError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent

    def send_outbound(self, emails) -> list[AnymailStatus]:
        """Ladder's rendered emails (``campaigns.dispatch.compose.OutboundEmail``),
        written with ``config.mime`` rather than Django's MIME classes: the same
        email, in a twentieth of the time. One status each, as the dispatcher
        reads them (docs/backends.md); a failed write raises for the whole call.
        """
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        now = clock.now()
        folder, date = os.fspath(self.outbox_dir), format_datetime(now)
        prefix = now.strftime("%Y%m%dT%H%M%S-")
        statuses = []
        for email in emails:
            data = alternative_email(
                from_email=email.from_email,
                to=email.to,
                subject=email.subject,
                text=email.text,
                html=email.html,
                date=date,
                reply_to=email.reply_to,
                headers=email.headers.items(),
            )
            name = prefix + uuid.uuid4().hex
            with open(os.path.join(folder, name + ".eml"), "wb") as file:
                file.write(data)
            status = AnymailStatus()
            status.set_recipient_status(
                {email.to_address: AnymailRecipientStatus(message_id=name, status="sent")}
            )
            statuses.append(status)
        return statuses
