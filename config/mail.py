"""The embedded default email backend: one ``.eml`` file per message.

Django's own file backend appends many messages to one log file; an ``.eml`` per
message opens directly in any mail client and is what ``make demo`` leaves
behind under ``var/outbox/``.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from config import clock


class EmlOutboxBackend(BaseEmailBackend):
    """Writes each message to ``EMAIL_OUTBOX_DIR/<utc-time>-<uuid>.eml``."""

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
