"""The Postmark batch backend, against the fake Postmark API over real HTTP.

The sink (bench/sinks/postmark.py) runs in a thread of the test process and
records what arrives; anymail's own Postmark backend, pointed at the same sink,
is the reference for what each message should look like.
"""

import socket

import pytest
import requests
from anymail._idna import idna2008
from anymail.backends.postmark import EmailBackend as AnymailPostmarkBackend
from anymail.backends.postmark import PostmarkPayload
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from anymail.message import AnymailStatus
from anymail.signals import post_send
from anymail.utils import parse_address_list
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.utils.translation import gettext_lazy
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bench.sinks.postmark import BATCH_LIMIT, PostmarkSink, spawn
from campaigns.backends.postmark_batch import (
    BatchPostmarkPayload,
    EmailBackend,
    parse_addresses,
    plain_message,
    recipient_statuses,
)
from campaigns.dispatch.compose import OutboundEmail
from campaigns.rendering import RenderedEmail

BATCH_BACKEND = "campaigns.backends.postmark_batch.EmailBackend"
ANYMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
FROM = "Ladder <news@ladder.example>"


@pytest.fixture
def sink():
    with PostmarkSink() as sink:
        yield sink


@pytest.fixture
def postmark(settings, sink):
    """ANYMAIL settings pointing both Postmark backends at the sink."""
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": sink.token, "POSTMARK_API_URL": sink.url}
    settings.EMAIL_BACKEND = BATCH_BACKEND
    return sink


def _newsletter(n: int = 0, to: str | None = None) -> EmailMultiAlternatives:
    """A message shaped like Ladder's marketing email."""
    message = EmailMultiAlternatives(
        subject=f"Teapots, week {n}",
        body=f"Hello {n}\n\nOur new teapots are in.",
        from_email=FROM,
        to=[to or f"Customer {n} <customer{n}@example.com>"],
        reply_to=["Support <support@ladder.example>"],
        headers={
            "List-Unsubscribe": f"<https://ladder.example/u/{n}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(f"<p>Hello {n}</p><p>Our new teapots are in.</p>", "text/html")
    message.tags = ["weekly"]
    message.metadata = {"delivery": str(n), "variant": "a"}
    return message


def _with_attachment(n: int) -> EmailMultiAlternatives:
    message = _newsletter(n)
    message.attach("price-list.csv", "teapot,12.50\n", "text/csv")
    return message


def _international(n: int) -> EmailMultiAlternatives:
    message = _newsletter(n, to=f"Zoë Ünal <zoe{n}@bücher.example>")
    message.from_email = '"Ladder, Inc." <news@ladder.example>'
    message.cc = ["Ops <ops@ladder.example>"]
    message.bcc = ["archive@ladder.example"]
    return message


def _lazy_subject(n: int) -> EmailMultiAlternatives:
    message = _newsletter(n)
    message.subject = gettext_lazy("Teapots")
    return message


def _html_only(n: int) -> EmailMessage:
    message = EmailMessage(
        subject="Teapots", body="<p>Teapots</p>", from_email=FROM, to=[f"c{n}@example.com"]
    )
    message.content_subtype = "html"
    message.track_clicks = True
    message.track_opens = False
    return message


def _header_reply_to(n: int) -> EmailMultiAlternatives:
    message = _newsletter(n)
    message.extra_headers["Reply-To"] = "Replies <replies@ladder.example>"
    return message


MESSAGES = {
    "newsletter": _newsletter,
    "attachment": _with_attachment,
    "international": _international,
    "lazy subject": _lazy_subject,
    "html only, tracking": _html_only,
    "Reply-To header": _header_reply_to,
}


@pytest.mark.parametrize("make", MESSAGES.values(), ids=MESSAGES.keys())
def test_it_sends_each_message_as_anymails_own_postmark_backend_does(postmark, make):
    reference, batched = make(1), make(1)
    get_connection(ANYMAIL_BACKEND).send_messages([reference])
    get_connection(BATCH_BACKEND).send_messages([batched])

    single_call, batch_call = postmark.snapshot()["calls"]
    assert single_call["path"] == "/email"
    assert batch_call["path"] == "/email/batch"
    by_anymail, by_batch = postmark.messages()
    assert by_batch == by_anymail
    assert batched.anymail_status.status == {"sent"}
    # anymail matches Postmark's echoed To against the recipients as written, so
    # an IDN domain it sent punycoded comes back as a stranger: {"sent", "unknown"}.
    assert "sent" in reference.anymail_status.status


def test_it_sends_the_fields_a_newsletter_needs(postmark):
    get_connection().send_messages([_newsletter(7)])

    (sent,) = postmark.messages()
    assert sent == {
        "From": FROM,
        "To": "Customer 7 <customer7@example.com>",
        "Subject": "Teapots, week 7",
        "ReplyTo": "Support <support@ladder.example>",
        "Headers": [
            {"Name": "List-Unsubscribe", "Value": "<https://ladder.example/u/7>"},
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        ],
        "TextBody": "Hello 7\n\nOur new teapots are in.",
        "HtmlBody": "<p>Hello 7</p><p>Our new teapots are in.</p>",
        "Metadata": {"delivery": "7", "variant": "a"},
        "Tag": "weekly",
    }


def test_it_sends_to_the_message_stream_anymail_is_configured_with(settings, postmark):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_MESSAGE_STREAM": "broadcast"}
    get_connection().send_messages([_newsletter()])

    assert postmark.messages()[0]["MessageStream"] == "broadcast"


def test_it_returns_how_many_were_accepted_with_postmarks_message_ids(postmark):
    messages = [_newsletter(n) for n in range(3)]

    assert get_connection().send_messages(messages) == 3

    received = postmark.snapshot()
    assert [m["To"] for m in received["messages"]] == [m.to[0] for m in messages]
    for message, message_id in zip(messages, received["message_ids"], strict=True):
        status = message.anymail_status
        assert isinstance(status, AnymailStatus)
        assert status.status == {"sent"}
        assert status.message_id == message_id
        assert status.esp_response["MessageID"] == message_id
        assert status.esp_response["ErrorCode"] == 0
        assert status.recipients[message.to[0].split("<")[1].rstrip(">")].status == "sent"
        assert message.anymail_error is None


def test_it_splits_more_than_500_messages_into_calls_of_at_most_500(postmark):
    messages = [_newsletter(n) for n in range(1201)]

    assert get_connection().send_messages(messages) == 1201

    received = postmark.snapshot()
    assert [call["messages"] for call in received["calls"]] == [500, 500, 201]
    assert {call["path"] for call in received["calls"]} == {"/email/batch"}
    assert [m["To"] for m in received["messages"]] == [m.to[0] for m in messages]
    assert len({m.anymail_status.message_id for m in messages}) == 1201
    assert received["connections"] == 1


def test_it_tells_the_dispatcher_how_many_messages_to_hand_it():
    assert EmailBackend.batch_size == BATCH_LIMIT == 500
    assert not hasattr(AnymailPostmarkBackend, "batch_size")


def test_it_keeps_one_connection_open_between_open_and_close(postmark):
    with get_connection() as connection:
        for n in range(3):
            assert connection.send_messages([_newsletter(n), _newsletter(n + 10)]) == 2
        pools = connection.session.get_adapter(postmark.url).poolmanager.pools
        (key,) = pools.keys()
        pool = pools[key]

    assert pool.num_connections == 1
    assert pool.num_requests == 3
    received = postmark.snapshot()
    assert len(received["calls"]) == 3
    assert received["connections"] == 1


def test_it_opens_a_connection_per_call_when_not_opened_first(postmark):
    connection = get_connection()
    for n in range(2):
        connection.send_messages([_newsletter(n)])

    assert connection.session is None
    assert postmark.snapshot()["connections"] == 2


def test_it_marks_invalid_and_inactive_recipients_and_sends_the_others(postmark):
    ok, invalid, inactive, also_ok = (
        _newsletter(1),
        _newsletter(2, to="Ann <invalid.ann@example.com>"),
        _newsletter(3, to="Bob <Inactive.Bob@example.com>"),
        _newsletter(4),
    )

    assert get_connection().send_messages([ok, invalid, inactive, also_ok]) == 2

    assert len(postmark.snapshot()["calls"]) == 1
    assert ok.anymail_status.status == also_ok.anymail_status.status == {"sent"}
    assert invalid.anymail_status.status == {"invalid"}
    assert invalid.anymail_status.message_id is None
    assert invalid.anymail_status.esp_response["ErrorCode"] == 300
    assert invalid.anymail_status.recipients["invalid.ann@example.com"].status == "invalid"
    assert inactive.anymail_status.status == {"rejected"}
    assert inactive.anymail_status.esp_response["ErrorCode"] == 406
    assert inactive.anymail_status.recipients["Inactive.Bob@example.com"].status == "rejected"
    assert all(m.anymail_error is None for m in (ok, invalid, inactive, also_ok))


def test_the_sink_words_refusals_as_postmark_does_for_anymails_parser(postmark):
    """anymail's own backend reads the sink's /email refusals as Postmark's."""
    invalid, inactive = _newsletter(to="invalid@example.com"), _newsletter(to="inactive@x.io")
    connection = get_connection(ANYMAIL_BACKEND)

    for message, status in ((invalid, {"invalid"}), (inactive, {"rejected"})):
        with pytest.raises(AnymailRecipientsRefused):
            connection.send_messages([message])
        assert message.anymail_status.status == status


def test_it_marks_a_message_anymail_cannot_build_as_failed_and_sends_the_others(postmark):
    templated, unserializable, empty, ok = (_newsletter(n) for n in range(4))
    templated.template_id = "welcome"
    unserializable.metadata = {"price": object()}
    empty.to = []

    assert get_connection().send_messages([templated, unserializable, empty, ok]) == 1

    assert [m["To"] for m in postmark.messages()] == [ok.to[0]]
    assert ok.anymail_status.status == {"sent"}
    for message, error in (
        (templated, AnymailUnsupportedFeature),
        (unserializable, AnymailSerializationError),
        (empty, AnymailError),
    ):
        assert message.anymail_status.status == {"failed"}
        assert message.anymail_status.esp_response is None
        assert isinstance(message.anymail_error, error)


def test_it_runs_post_send_for_every_message_postmark_answered(postmark):
    seen = []

    def receiver(sender, message, status, esp_name, **kwargs):
        seen.append((message.to[0], frozenset(status.status)))

    post_send.connect(receiver)
    try:
        get_connection().send_messages([_newsletter(1), _newsletter(2, to="inactive@x.io")])
    finally:
        post_send.disconnect(receiver)

    assert seen == [
        ("Customer 1 <customer1@example.com>", frozenset({"sent"})),
        ("inactive@x.io", frozenset({"rejected"})),
    ]


# --- Whole-call failures -------------------------------------------------------


def test_it_raises_on_429_with_the_retry_after_header_readable(postmark):
    postmark.fail(429)
    messages = [_newsletter(n) for n in range(3)]

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_messages(messages)

    assert raised.value.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "1"
    assert raised.value.email_messages == messages
    assert all(m.anymail_status.status is None for m in messages)
    # The failure was for that call only: the retry goes through.
    assert get_connection().send_messages(messages) == 3


@pytest.mark.parametrize("status", [500, 503, 422])
def test_it_raises_on_a_refused_call_and_marks_none_sent(postmark, status):
    postmark.fail(status)
    messages = [_newsletter(n) for n in range(3)]

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_messages(messages)

    assert raised.value.status_code == status
    assert all(m.anymail_status.status is None for m in messages)


def test_it_raises_when_the_server_token_is_wrong(settings, postmark):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "not-the-token"}
    message = _newsletter()

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_messages([message])

    assert raised.value.status_code == 401
    assert message.anymail_status.status is None


def test_it_raises_when_the_connection_is_refused(settings):
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "token",
        "POSTMARK_API_URL": f"http://127.0.0.1:{port}/",
    }
    message = _newsletter()

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection(BATCH_BACKEND).send_messages([message])

    assert isinstance(raised.value, requests.ConnectionError)
    assert raised.value.status_code is None
    assert message.anymail_status.status is None


def test_it_raises_when_postmark_does_not_answer_in_time(settings, postmark):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.2}
    postmark.fail(200, delay=1)
    message = _newsletter()

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_messages([message])

    assert isinstance(raised.value, requests.Timeout)
    assert message.anymail_status.status is None


def test_it_stops_at_the_failed_call_and_keeps_the_statuses_of_earlier_ones(postmark):
    postmark.fail(503, after=1)
    messages = [_newsletter(n) for n in range(1200)]

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_messages(messages)

    assert raised.value.email_messages == messages[500:1000]
    assert all(m.anymail_status.status == {"sent"} for m in messages[:500])
    assert all(m.anymail_status.status is None for m in messages[500:])
    assert postmark.snapshot()["accepted"] == 500


def test_fail_silently_returns_what_was_accepted_before_the_failure(postmark):
    postmark.fail(503, after=1)
    messages = [_newsletter(n) for n in range(600)]

    with pytest.warns(DeprecationWarning):  # anymail is dropping fail_silently
        connection = get_connection(fail_silently=True)

    assert connection.send_messages(messages) == 500


def test_it_refuses_postmarks_bulk_api_setting(settings):
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "token", "POSTMARK_USE_BULK_API": True}

    with pytest.raises(AnymailConfigurationError):
        get_connection(BATCH_BACKEND)


# --- Reading Postmark's per-message answers ----------------------------------

ANSWERS = {
    "accepted": ({"ErrorCode": 0, "Message": "OK", "MessageID": "m-1"}, "sent"),
    "delayed": (
        {
            "ErrorCode": 0,
            "Message": "Message accepted, but delivery may be delayed.",
            "MessageID": "m-1",
        },
        "queued",
    ),
    "invalid To": (
        {"ErrorCode": 300, "Message": "Invalid 'To' address: 'ann@example.com'."},
        "invalid",
    ),
    "invalid From": (
        {"ErrorCode": 300, "Message": "Invalid 'From' address: 'news@ladder.example'."},
        "failed",
    ),
    "inactive": (
        {
            "ErrorCode": 406,
            "Message": "You tried to send to recipient(s) that have been marked as "
            "inactive. Found inactive addresses: ann@example.com. Inactive recipients "
            "are ones that have generated a hard bounce, a spam complaint, or a manual "
            "suppression.",
        },
        "rejected",
    ),
    "sender signature missing": (
        {"ErrorCode": 400, "Message": "The 'From' address is not a Sender Signature."},
        "failed",
    ),
}


def _recipients(payload: BatchPostmarkPayload) -> list[str]:
    return [address.addr_spec for address in payload.to_emails + payload.cc_and_bcc_emails]


@pytest.mark.parametrize(("answer", "status"), ANSWERS.values(), ids=ANSWERS.keys())
def test_it_reads_each_postmark_answer_as_anymail_does(answer, status):
    message = _newsletter(to="Ann <Ann@example.com>")
    payload = BatchPostmarkPayload(message, {}, EmailBackend(server_token="t"))

    (recipient,) = recipient_statuses(_recipients(payload), answer).items()

    assert recipient[0] == "Ann@example.com"
    assert recipient[1].status == status
    assert recipient[1].message_id == ("m-1" if status in {"sent", "queued"} else None)


def test_it_names_the_refused_recipient_among_several():
    message = _newsletter(to="ann@example.com")
    message.cc = ["bob@example.com"]
    payload = BatchPostmarkPayload(message, {}, EmailBackend(server_token="t"))
    answer = {"ErrorCode": 300, "Message": "Error parsing 'Cc': Illegal address 'bob@example.com'"}

    statuses = recipient_statuses(_recipients(payload), answer)

    assert {email: s.status for email, s in statuses.items()} == {
        "ann@example.com": "failed",
        "bob@example.com": "invalid",
    }


# --- Same JSON as anymail, faster ----------------------------------------------

_ANYMAIL = AnymailPostmarkBackend(server_token="t")
_BATCH = EmailBackend(server_token="t")

#: Characters around and inside address syntax, ASCII and not.
_TRICKY = "aZ09 .,;:<>@\"'\\()[]!#$%&*+/=?^_`{|}~-\t\néüß日\u00a0\u2028"
_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_name = st.lists(st.text(alphabet=_ATEXT + "éü日", min_size=1, max_size=6), min_size=1, max_size=3)
_local = st.lists(st.text(alphabet=_ATEXT, min_size=1, max_size=6), min_size=1, max_size=3)
_domain = st.lists(st.text(alphabet="abz09-ü", min_size=1, max_size=5), min_size=1, max_size=3)
_named = st.builds(
    "{} <{}@{}>".format, _name.map(" ".join), _local.map(".".join), _domain.map(".".join)
)
_bare = st.builds("{}@{}".format, _local.map(".".join), _domain.map(".".join))
_address = st.one_of(_named, _bare, st.text(alphabet=_TRICKY, max_size=30))
#: Addresses anymail accepts, so most generated messages get built (tricky
#: addresses are the test above's job).
_message_domain = st.text(alphabet="abz09", min_size=1, max_size=5).map("{}.example".format)
_message_address = st.builds(
    "{} <{}@{}>".format, _name.map(" ".join), _local.map(".".join), _message_domain
) | st.builds("{}@{}".format, _local.map(".".join), _message_domain)


def _now_and_then(draw) -> bool:
    """True one time in ten (st.integers would favour its bounds)."""
    return draw(st.sampled_from([False] * 9 + [True]))


def _described(parse, value):
    try:
        addresses = parse(value)
    except AnymailInvalidAddress:
        return "invalid"
    return [(a.display_name, a.username, a.domain, a.addr_spec, _formatted(a)) for a in addresses]


def _formatted(address):
    try:
        return address.address, address.format(idna_encode=idna2008)
    except ValueError as error:  # a domain IDNA cannot encode
        return type(error)


@given(st.lists(_address, min_size=0, max_size=3))
@example(["Customer 1 <c1@example.com>"])
@example(["Customer  1 <c1@example.com>"])
@example(["a <b@c.d> "])
@example(["J. Smith <j@example.com>"])
@example(["=?utf-8?q?x?= <a@b.c>"])
@example(["a@b.c (comment)"])
@hypothesis_settings(max_examples=400, deadline=None)
def test_addresses_parse_as_anymail_parses_them(values):
    assert _described(parse_addresses, values) == _described(parse_address_list, values)


_text = st.text(alphabet="ab <>\"'\n\té日", max_size=12)
_header_name = st.sampled_from(
    ["List-Unsubscribe", "List-Unsubscribe-Post", "X-Campaign", "x-campaign", "X-Tag"] * 6
    + ["Reply-To", "reply-to", "From", "To"]
)
_headers = st.dictionaries(_header_name, _text, max_size=3)


@st.composite
def _messages(draw):
    message = EmailMultiAlternatives(
        subject=draw(_text),
        body=draw(_text),
        from_email=draw(_message_address),
        to=draw(st.lists(_message_address, min_size=1, max_size=2)),
        cc=draw(st.lists(_message_address, max_size=1)),
        bcc=draw(st.lists(_message_address, max_size=1)),
        reply_to=draw(st.lists(_message_address, max_size=2)),
        headers=draw(_headers),
    )
    if not _now_and_then(draw):  # an HTML part, usually
        message.attach_alternative(draw(_text), "text/html")
    if _now_and_then(draw):  # a part Postmark cannot take, if there was one already
        message.attach_alternative(draw(_text), draw(st.sampled_from(["text/html", "text/plain"])))
    if _now_and_then(draw):
        message.content_subtype = "html"
    for attr, values in (
        ("tags", st.lists(_text, max_size=2)),
        ("metadata", st.dictionaries(st.text(max_size=4), st.integers() | _text, max_size=2)),
        ("track_clicks", st.booleans()),
        ("track_opens", st.booleans()),
    ):
        if draw(st.booleans()):
            setattr(message, attr, draw(values | st.none()))
    return message


def _built(payload_class, backend, message):
    try:
        payload = payload_class(message, {}, backend)
    except AnymailError as error:
        return type(error)
    return payload.data, payload.to_emails, payload.cc_and_bcc_emails


@given(_messages())
@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_message_is_built_as_anymails_postmark_payload_builds_it(message):
    reference = _built(PostmarkPayload, _ANYMAIL, message)
    event("anymail refuses it" if isinstance(reference, type) else "anymail builds it")
    event("plain path" if plain_message(message) else "anymail's walk")
    assert _built(BatchPostmarkPayload, _BATCH, message) == _built(
        PostmarkPayload, _ANYMAIL, message
    )


def test_ladders_messages_take_the_plain_path():
    assert plain_message(_newsletter())
    assert not plain_message(_with_attachment(1))
    assert not plain_message(_lazy_subject(1))


# --- The sink as a process of its own ------------------------------------------


def test_the_sink_runs_as_a_process_driven_over_http(settings):
    with spawn() as (client, _pid):
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "postmark-sink-token"}
        settings.ANYMAIL["POSTMARK_API_URL"] = client.url
        assert get_connection(BATCH_BACKEND).send_messages([_newsletter(1)]) == 1
        assert [m["To"] for m in client.messages()] == ["Customer 1 <customer1@example.com>"]

        client.reset()
        client.fail(429, retry_after=7)
        with pytest.raises(AnymailRequestsAPIError) as raised:
            get_connection(BATCH_BACKEND).send_messages([_newsletter(2)])
        assert raised.value.response.headers["Retry-After"] == "7"
        assert client.snapshot()["count"] == 0


def test_the_sink_refuses_a_batch_over_postmarks_limit(sink):
    response = requests.post(
        sink.url + "email/batch",
        json=[{"To": f"c{n}@example.com"} for n in range(BATCH_LIMIT + 1)],
        headers={"X-Postmark-Server-Token": sink.token},
        timeout=10,
    )

    assert response.status_code == 422
    assert sink.snapshot()["count"] == 0


# --- Ladder's own emails, written straight to JSON -----------------------------

_display = st.text(alphabet="ab .,;:<>\"'\\()[]@é日\t\n", max_size=14)


@st.composite
def _outbound_emails(draw) -> OutboundEmail:
    return OutboundEmail.build(
        delivery_id=draw(st.integers(1, 10**12)),
        rendered=RenderedEmail(subject=draw(_text), html=draw(_text), text=draw(_text)),
        sender=draw(_message_address),
        reply_to=draw(st.sampled_from(["", "help@shop.example", "Help Desk <help@shop.example>"])),
        to_email=draw(_bare.filter(lambda a: a.isascii())),
        to_name=draw(_display),
        tag=draw(st.sampled_from(["", "weekly", "welcome-é"])),
        metadata=draw(st.dictionaries(st.sampled_from(["delivery_id", "variant"]), _text)),
    )


@given(_outbound_emails(), st.sampled_from([None, "broadcast"]))
@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_an_outbound_email_is_the_json_anymail_builds_for_its_message(email, stream):
    backend = EmailBackend(server_token="t", message_stream=stream)
    anymail = AnymailPostmarkBackend(server_token="t", message_stream=stream)

    reference = _built(PostmarkPayload, anymail, email.message())

    assert backend.outbound_entry(email) == reference[0]
    assert [a.addr_spec for a in reference[1]] == [email.to_address]


def _outbound(n: int, to: str | None = None) -> OutboundEmail:
    return OutboundEmail.build(
        delivery_id=n,
        rendered=RenderedEmail(subject=f"Teapots, week {n}", html=f"<p>{n}</p>", text=f"{n}"),
        sender=FROM,
        reply_to="",
        to_email=to or f"customer{n}@example.com",
        to_name=f"Customer {n}",
        tag="weekly",
        metadata={"delivery_id": str(n)},
    )


def test_outbound_emails_go_out_in_calls_of_at_most_500(postmark):
    emails = [_outbound(n) for n in range(1, 1002)]

    with get_connection() as connection:
        statuses = connection.send_outbound(emails)

    assert [call["messages"] for call in postmark.snapshot()["calls"]] == [500, 500, 1]
    arrived = postmark.messages()
    assert [m["To"] for m in arrived] == [
        f"Customer {n} <customer{n}@example.com>" for n in range(1, 1002)
    ]
    assert [m["Metadata"]["delivery_id"] for m in arrived] == [str(n) for n in range(1, 1002)]
    assert {s.status.pop() for s in statuses} == {"sent"}
    assert len({s.message_id for s in statuses}) == 1001


def test_an_outbound_email_postmark_refuses_gets_its_own_status(postmark):
    emails = [
        _outbound(1),
        _outbound(2, to="invalid.ann@example.com"),
        _outbound(3, to="inactive.bob@example.com"),
    ]

    statuses = get_connection().send_outbound(emails)

    assert [s.status for s in statuses] == [{"sent"}, {"invalid"}, {"rejected"}]
    assert statuses[1].esp_response["ErrorCode"] == 300


def test_an_outbound_email_anymail_cannot_address_fails_alone(postmark):
    broken = _outbound(2)
    broken.to = "Customer 2 <not an address>"

    statuses = get_connection().send_outbound([_outbound(1), broken])

    assert [s.status for s in statuses] == [{"sent"}, {"failed"}]
    assert "not sent" in statuses[1].esp_response["Message"]
    assert len(postmark.messages()) == 1


def test_a_refused_outbound_call_raises_with_retry_after(postmark):
    postmark.fail(429, retry_after=9)

    with pytest.raises(AnymailRequestsAPIError) as raised:
        get_connection().send_outbound([_outbound(1)])

    assert raised.value.response.headers["Retry-After"] == "9"


def test_outbound_emails_meet_anymails_signals_when_someone_listens(postmark):
    seen = []

    def receiver(sender, message, status, esp_name, **kwargs):
        seen.append((message.to, status.status))

    post_send.connect(receiver)
    try:
        statuses = get_connection().send_outbound([_outbound(1)])
    finally:
        post_send.disconnect(receiver)

    assert seen == [(["Customer 1 <customer1@example.com>"], {"sent"})]
    assert statuses[0].status == {"sent"}
