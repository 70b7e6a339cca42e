"""The simulated customers' inboxes: the ``.eml`` files Ladder wrote, read as a mail app reads them.

Customers act on what is in the email: the open pixel, the tracked links and
the ``List-Unsubscribe`` header, as Ladder signed them. Nothing is looked up
from the database to find a link.
"""

import email
import os
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

#: Ladder's Message-ID names the delivery (campaigns.dispatch.compose.message_id);
#: a provider echoes it back in webhooks, as Postmark does with its metadata.
_MESSAGE_ID = re.compile(r"<ladder\.(\d+)\.")
_PIXEL = re.compile(r'<img src="([^"]+/t/o/[^"]+\.gif)"')
_CLICK = re.compile(r'href="([^"]+/t/c/[^"]+)"')
_ONE_CLICK = re.compile(r"<(https?://[^>]+)>")


@dataclass(frozen=True)
class Received:
    """One email in a customer's inbox, with the paths its links lead to."""

    path: Path
    delivery_id: int
    to: str
    subject: str
    #: Paths (with query) on Ladder's site, for a test client.
    pixel: str
    clicks: tuple[str, ...]
    unsubscribe: str


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _html(raw: bytes) -> str:
    """The HTML part's text. Ladder's emails are 8-bit (no encoding to undo), so the
    raw bytes are read as they are; any other email goes through the parser."""
    plain = b"Content-Transfer-Encoding: 8bit" in raw or b"Content-Transfer-Encoding: 7bit" in raw
    if plain and b"quoted-printable" not in raw and b"base64" not in raw:
        return raw.decode("utf-8", errors="replace")
    for part in email.message_from_bytes(raw).walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""


def email_read(path: Path) -> Received:
    raw = path.read_bytes()
    headers = BytesHeaderParser().parsebytes(raw)
    html = _html(raw)
    unsubscribe = _ONE_CLICK.search(" ".join(headers["List-Unsubscribe"].split()))
    pixel = _PIXEL.search(html)
    return Received(
        path=path,
        delivery_id=int(_MESSAGE_ID.search(headers["Message-ID"]).group(1)),
        to=parseaddr(headers["To"])[1],
        subject=str(make_header(decode_header(headers["Subject"]))),
        pixel=_local(pixel.group(1)) if pixel else "",
        clicks=tuple(dict.fromkeys(_local(url) for url in _CLICK.findall(html))),
        unsubscribe=_local(unsubscribe.group(1)),
    )


class Outbox:
    """The outbox directory, read as it grows: each call returns the files new since the last."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.seen: set[str] = set()
        self.changed_at = 0

    def new(self) -> list[Received]:
        try:
            # A directory's mtime moves when a file is added: no listing until then.
            changed_at = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        if changed_at == self.changed_at:
            return []
        self.changed_at = changed_at
        with os.scandir(self.directory) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".eml"))
        fresh = [name for name in names if name not in self.seen]
        self.seen.update(fresh)
        return [email_read(self.directory / name) for name in fresh]
