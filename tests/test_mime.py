"""config.mime writes the same email Django's MIME classes write, much faster.

Each generated email is written both ways, parsed back with the standard
library's modern parser, and compared header by header and part by part; the
fast bytes must also be well-formed on the wire (CRLF only, no line over 998
octets).
"""

import email
import email.policy
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.dispatch.compose import OutboundEmail
from campaigns.rendering import RenderedEmail
from config.mail import EmlOutboxBackend
from config.mime import alternative_email

#: Headers every Ladder email carries, compared decoded with Django's. The
#: subject and the addresses are compared with what was meant instead: Python's
#: compat32 writer, Django's, puts a stray space before some mixed
#: ASCII/non-ASCII subjects, and splits a long display name into encoded words
#: that the parser joins with a space that was never in the name.
COMPARED = ("List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID")
ADDRESSES = {"From": "from_email", "To": "to", "Reply-To": "reply_to"}
DATE = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)

#: Text with what trips MIME writers: non-ASCII, quotes, specials, boundary-like
#: dashes, "From " at a line start, trailing spaces, every kind of line break.
_PIECES = [
    *"aZ09 .,;:<>\"'()[]@\\-=?_\t",
    "é",
    "Zoë",
    "日本",
    "😀",
    "--",
    "From ",
    "\n",
    "\r\n",
    "\r",
]
_TRICKY = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
_ONE_LINE = _TRICKY.map(lambda value: " ".join(value.split()))
#: A body: tricky text, sometimes with a line far over 998 octets.
_BODY = st.tuples(_TRICKY, st.integers(0, 2_500), _TRICKY).map(
    lambda parts: parts[0] + "x" * parts[1] + parts[2]
)


def _outbound(name: str, subject: str, text: str, html: str) -> OutboundEmail:
    return OutboundEmail.build(
        delivery_id=42,
        rendered=RenderedEmail(subject=subject, html=html, text=text),
        sender="Exämple Shop <news@shop.example.com>",
        reply_to="help@shop.example.com",
        to_email="ann@example.com",
        to_name=name,
        tag="weekly",
        metadata={"delivery_id": "42"},
    )


def _fast(outbound: OutboundEmail) -> bytes:
    return alternative_email(
        from_email=outbound.from_email,
        to=outbound.to,
        subject=outbound.subject,
        text=outbound.text,
        html=outbound.html,
        date=format_datetime(DATE),
        reply_to=outbound.reply_to,
        headers=outbound.headers.items(),
    )


def _parsed(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def _assert_same(fast: bytes, reference: bytes, outbound: OutboundEmail) -> None:
    ours, django = _parsed(fast), _parsed(reference)
    assert str(ours["Subject"]) == outbound.subject
    for name, attribute in ADDRESSES.items():
        assert parseaddr(str(ours[name])) == parseaddr(getattr(outbound, attribute)), name
    for name in COMPARED:
        assert str(ours[name]) == str(django[name]), name
    assert ours.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in ours.iter_parts()] == ["text/plain", "text/html"]
    for mine, theirs in zip(ours.iter_parts(), django.iter_parts(), strict=True):
        assert mine.get_content() == theirs.get_content()
        assert mine.get_content_charset() == "utf-8"
    assert not ours.defects and all(not part.defects for part in ours.walk())


def _assert_wire_safe(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_TRICKY, subject=_ONE_LINE, text=_BODY.filter(str.strip), html=_BODY.filter(str.strip))
@example(name="a" * 33 + "Zoë日本日本", subject="", text="a", html="a")  # split by Django
def test_it_writes_what_django_writes(name, subject, text, html):
    outbound = _outbound(name, subject, text, html)
    fast = _fast(outbound)

    _assert_wire_safe(fast)
    _assert_same(fast, outbound.message().message().as_bytes(linesep="\r\n"), outbound)


def test_long_lines_go_quoted_printable_and_short_ones_8bit():
    outbound = _outbound("Ann", "Hello", "short\nlines", "<p>" + "x" * 2000 + "</p>")

    parts = list(_parsed(_fast(outbound)).iter_parts())

    assert parts[0]["Content-Transfer-Encoding"] == "8bit"
    assert parts[1]["Content-Transfer-Encoding"] == "quoted-printable"
    assert parts[1].get_content() == "<p>" + "x" * 2000 + "</p>"


def test_non_ascii_names_and_subjects_are_encoded_words_around_a_plain_address():
    outbound = _outbound("Zoë Müller", "Grüße, Zoë", "t", "<p>h</p>")

    data = _fast(outbound)

    head = data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"<ann@example.com>" in head
    assert str(_parsed(data)["To"]) == "Zoë Müller <ann@example.com>"


@pytest.mark.parametrize("field", ["subject", "to", "header"])
def test_a_header_value_with_a_line_break_is_refused(field):
    values = {
        "from_email": "news@shop.example.com",
        "to": "ann@example.com",
        "subject": "Hello",
        "text": "t",
        "html": "h",
        "date": format_datetime(DATE),
        "headers": [("X-Test", "fine")],
    }
    if field == "header":
        values["headers"] = [("X-Test", "ok\r\nBcc: victim@example.net")]
    else:
        values[field] += "\nBcc: victim@example.net"

    with pytest.raises(ValueError, match="line break"):
        alternative_email(**values)


def test_the_outbox_backend_writes_one_file_per_email_with_its_name_as_message_id(tmp_path):
    backend = EmlOutboxBackend(outbox_dir=tmp_path)
    emails = [_outbound(f"Customer {n}", f"Hello {n}", "t", "<p>h</p>") for n in range(3)]

    statuses = backend.send_outbound(emails)

    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 3
    assert sorted(f"{status.message_id}.eml" for status in statuses) == [f.name for f in files]
    assert {status.status.pop() for status in statuses} == {"sent"}
    subjects = {str(_parsed(f.read_bytes())["Subject"]) for f in files}
    assert subjects == {"Hello 0", "Hello 1", "Hello 2"}
