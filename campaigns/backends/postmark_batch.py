"""Postmark's batch endpoint as a Django email backend: many distinct messages per call.

anymail's Postmark backend makes one HTTP call per message. Postmark's
``POST /email/batch`` takes up to 500 distinct messages as one JSON array and
answers with one result per message, in the same order. This backend builds
each message's JSON with anymail's own Postmark payload class (headers, the
single Tag, metadata, reply-to, alternatives, attachments, message stream are
anymail's code, not a copy) and posts the messages in chunks of at most
``batch_size`` over one ``requests.Session`` kept open from ``open()`` to
``close()``.

Settings (read exactly as anymail's Postmark backend reads them)::

    EMAIL_BACKEND = "campaigns.backends.postmark_batch.EmailBackend"
    ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "...",
        "POSTMARK_API_URL": "https://api.postmarkapp.com/",  # the default
        "POSTMARK_MESSAGE_STREAM": "broadcast",  # marketing mail; optional
    }

Contract (the dispatcher relies on it; docs/backends.md says the same):

* ``EmailBackend.batch_size`` (500): hand ``send_messages`` up to this many
  messages per call. anymail's per-message backends have no such attribute.
* ``send_messages(messages) -> int`` returns how many Postmark accepted.
* Afterwards every message carries ``message.anymail_status``
  (``anymail.message.AnymailStatus``) whose ``.status`` is one of
  ``{"sent"}`` or ``{"queued"}`` (accepted; ``.message_id`` is Postmark's
  MessageID), ``{"invalid"}`` (ErrorCode 300 naming a To/Cc/Bcc address),
  ``{"rejected"}`` (ErrorCode 406: Postmark has the recipient suppressed), or
  ``{"failed"}`` (any other per-message error, including a 300 about the
  From or Reply-To address, and a message refused before sending, see below).
  ``anymail_status.esp_response`` is this message's own result object from
  Postmark (a dict: ErrorCode, Message, and MessageID, SubmittedAt, To when
  accepted), not the ``requests.Response`` anymail's backends put there.
* A message anymail cannot build or serialize (an unsupported feature such as
  ``template_id`` or ``merge_data``, an unparsable address, a metadata value
  JSON cannot carry) is not sent: ``{"failed"}``, ``esp_response`` None, and
  the ``AnymailError`` in ``message.anymail_error``. One bad message never
  holds up the other 499. ``anymail_error`` is None on every other message.
* A whole-call failure (HTTP 4xx/5xx including 401, 422 and 429, connection
  error, timeout, an answer that is not one result per message) raises
  ``AnymailRequestsAPIError`` with ``.status_code`` and ``.response`` (so
  ``.response.headers["Retry-After"]`` on a 429), and ``.email_messages``, the
  messages of the call that failed. Their status stays None ("not yet sent to
  ESP", anymail's meaning), as does the status of every message after them;
  messages of earlier calls in the same ``send_messages`` keep theirs. After a
  timeout Postmark may have accepted the call all the same: a retry can send
  twice.
* It never raises ``AnymailRecipientsRefused`` (anymail's backends do when
  every recipient of a message is refused): read the status.
* A message a ``pre_send`` receiver cancels has status None, as with anymail.
  ``post_send`` runs for every message Postmark answered for.
"""

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import orjson
from anymail.backends.postmark import EmailBackend as AnymailPostmarkBackend
from anymail.backends.postmark import PostmarkPayload
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRequestsAPIError,
    AnymailSerializationError,
)
from anymail.message import AnymailRecipientStatus, AnymailStatus
from anymail.signals import post_send, pre_send
from anymail.utils import UNSET, EmailAddress, force_non_lazy_dict, parse_address_list
from django.core.mail import EmailMessage

if TYPE_CHECKING:
    from campaigns.dispatch.compose import OutboundEmail

#: Postmark accepts at most this many messages per /email/batch call.
POSTMARK_BATCH_LIMIT = 500

#: Postmark's per-message ErrorCode -> anymail status; any other code is "failed".
ERROR_CODE_STATUS = {
    0: "sent",  # accepted; "queued" when Postmark adds that delivery may be delayed
    300: "invalid",  # Invalid email request, when it names a To/Cc/Bcc address
    406: "rejected",  # Inactive recipient: hard bounce, spam complaint or manual suppression
}

#: Where Postmark's Message lists the addresses an error is about (the patterns
#: of anymail.backends.postmark.EmailBackend.parse_recipient_status).
ADDRESSES_IN_MESSAGE = {
    "invalid": r"address:?\s*'(.*)'",
    "rejected": r"inactive addresses:\s*(.*)\.\s*Inactive recipients",
}

#: An ErrorCode 300 about a recipient, not about From, Reply-To or metadata.
#: anymail raises an API error for the others; here they are "failed", since
#: calling the customer's address invalid would wrongly suppress them.
RECIPIENT_ERROR = re.compile(r"^(Invalid|Error\s+parsing)\s+'(To|Cc|Bcc)'", re.IGNORECASE)

#: Postmark's wording when it accepted a message but may deliver it late (anymail #392).
DELAYED = "delivery may be delayed"

# --- Addresses ---------------------------------------------------------------
# anymail parses every address with email.utils.getaddresses and then again
# with email.headerregistry (about 60 µs each, most of the cost of building a
# payload). The common shapes, `Name <local@domain>` and `local@domain` with
# plain atoms, are recognised with one regular expression and turned into the
# same EmailAddress anymail would make (tests/campaigns/test_postmark_batch.py
# checks this against anymail for generated addresses); anything else goes
# through anymail's parser. Repeated strings (From, Reply-To) come from a cache.

#: One display-name word: no whitespace, no control character, no RFC 5322 special.
_WORD = r"[^\s\x00-\x1f\x7f()<>@,;:\\\".\[\]]+"
#: An ASCII atom (RFC 5322 atext).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = rf"{_ATOM}(?:\.{_ATOM})*"
#: ASCII domains only: a non-ASCII one needs anymail's IDNA encoding.
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ADDRESS = re.compile(
    rf"(?:(?P<name>{_WORD}(?: {_WORD})*) <(?P<local>{_LOCAL})@(?P<domain>{_DOMAIN})>"
    rf"|(?P<bare_local>{_LOCAL})@(?P<bare_domain>{_DOMAIN}))"
)


class _PlainAddress(EmailAddress):
    """An EmailAddress whose formatted form is the text it was matched from.

    For the plain shapes the regular expression admits (no RFC 5322 special in
    the display name, a dot-atom local part, an ASCII domain), anymail's
    ``format()`` gives back exactly that text, so it is kept instead of rebuilt.
    """

    def __init__(self, text: str, display_name: str, username: str, domain: str) -> None:
        super().__init__(display_name, username=username, domain=domain)
        self._text = text

    def format(self, *, use_rfc2047=False, idna_encode=None) -> str:
        if use_rfc2047:
            return super().format(use_rfc2047=use_rfc2047, idna_encode=idna_encode)
        return self._text


def _plain_address(text: str) -> _PlainAddress | None:
    match = _PLAIN_ADDRESS.fullmatch(text)
    if match is None:
        return None
    if match["name"] is not None:
        return _PlainAddress(text, match["name"], match["local"], match["domain"])
    return _PlainAddress(text, "", match["bare_local"], match["bare_domain"])


@lru_cache(maxsize=1024)
def _parse_one(text: str) -> tuple[EmailAddress, ...]:
    plain = _plain_address(text)
    return (plain,) if plain is not None else tuple(parse_address_list([text]))


def parse_addresses(value, field=None) -> list[EmailAddress]:
    """anymail's ``parse_address_list``, faster for plain addresses (same result).

    The parsed addresses are immutable, so a cache can hand the same ones to
    many messages (From and Reply-To repeat across a whole campaign). A list
    of several strings is parsed one string at a time only when each is plain:
    anymail joins them with commas first, so ``['a@[', 'b@c.d']`` is one
    malformed address to anymail, not two.
    """
    if type(value) is str:
        items = (value,)
    elif type(value) in (list, tuple):
        items = value
    else:  # lazy strings and the like
        return parse_address_list(value, field=field)
    if len(items) == 1:
        if type(items[0]) is str:
            try:
                return list(_parse_one(items[0]))
            except AnymailInvalidAddress:
                pass  # parse again below, for anymail's message naming the field
    elif _strings(items):
        addresses = [_plain_address(item) for item in items]  # [] for no address
        if None not in addresses:
            return addresses
    return parse_address_list(value, field=field)


def _strings(value) -> bool:
    """A list or tuple of str (most are empty or hold one, hence the short cuts)."""
    if type(value) not in (list, tuple):
        return False
    if len(value) < 2:
        return not value or type(value[0]) is str
    return all(type(item) is str for item in value)


#: Values force_non_lazy_dict would hand back unchanged (it raises and catches
#: an AttributeError per value to find that out).
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})


def non_lazy_dict(value):
    """anymail's ``force_non_lazy_dict``, faster for flat dicts of plain values."""
    if type(value) is dict and all(type(item) in _PLAIN_VALUES for item in value.values()):
        return dict(value)
    return force_non_lazy_dict(value)


def _faster(attrs: tuple) -> tuple:
    """anymail's table of message attributes, with the converters above swapped in."""
    swapped = []
    for attr, combiner, converter in attrs:
        if converter is parse_address_list:
            converter = partial(parse_addresses, field=attr)
        elif converter is force_non_lazy_dict:
            converter = non_lazy_dict
        swapped.append((attr, combiner, converter))
    return tuple(swapped)


#: Headers anymail's ``process_extra_headers`` treats specially, lower-cased.
SPECIAL_HEADERS = frozenset({"reply-to", "from", "to"})

#: anymail's standard attributes, in the order anymail applies them. The plain
#: path applies these and PLAIN_ANYMAIL_ATTRS in the same order; should an
#: anymail upgrade change the table, the plain path switches itself off.
STANDARD_ATTRS = (
    "from_email",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply_to",
    "extra_headers",
    "body",
    "alternatives",
    "attachments",
)
#: anymail's own attributes the plain path applies (all others must be unset).
PLAIN_ANYMAIL_ATTRS = ("metadata", "tags", "track_clicks", "track_opens")

_PLAIN_PATH = tuple(attr for attr, _, _ in PostmarkPayload.base_message_attrs) == STANDARD_ATTRS
_OTHER_ANYMAIL_ATTRS = tuple(
    attr for attr, _, _ in PostmarkPayload.anymail_message_attrs if attr not in PLAIN_ANYMAIL_ATTRS
)
_BATCH_SPECS = tuple(
    spec for spec in PostmarkPayload.anymail_message_attrs if spec[0] in PostmarkPayload.batch_attrs
)


def plain_message(message) -> bool:
    """Whether the plain path builds this message exactly as anymail's walk would.

    Plain: str values throughout (no lazy translations, so nothing to force),
    no attachments, and of anymail's own attributes at most metadata (a dict),
    tags (a list of str), track_clicks and track_opens. Everything else
    (templates, merge_*, esp_extra, send_at, envelope_sender, attachments)
    takes anymail's walk.
    """
    if not _PLAIN_PATH or message.attachments:
        return False
    if not (
        type(message.from_email) is str
        and type(message.subject) is str
        and type(message.body) is str
        and _strings(message.to)
        and _strings(message.cc)
        and _strings(message.bcc)
        and _strings(message.reply_to)
        and type(message.extra_headers) is dict
        and all(type(k) is str and type(v) is str for k, v in message.extra_headers.items())
        and all(type(content) is str for content, _ in getattr(message, "alternatives", ()))
    ):
        return False
    for attr in _OTHER_ANYMAIL_ATTRS:
        if getattr(message, attr, UNSET) is not UNSET:
            return False
    metadata = getattr(message, "metadata", None)
    if not (metadata is None or metadata is UNSET or type(metadata) is dict):
        return False
    tags = getattr(message, "tags", None)
    return tags is None or tags is UNSET or _strings(tags)


# --- Payload -----------------------------------------------------------------


class BatchPostmarkPayload(PostmarkPayload):
    """anymail's Postmark payload, as one entry of a batch.

    Every field is set by anymail's ``set_*`` methods. What is replaced is the
    machinery around them, which took most of anymail's ~300 µs per message
    (34-40 µs here; docs/backends.md has the measurements):

    * a *plain* message (see ``plain_message``), Ladder's every message, has
      its attributes handed to the setters directly, in anymail's order,
      instead of through anymail's generic walk over 22 attributes, each
      merged with SEND_DEFAULTS and converted; any other message takes
      anymail's walk unchanged;
    * addresses are parsed by ``parse_addresses`` (same results as anymail's);
    * headers with no special meaning skip the case-insensitive dict anymail
      builds to look for Reply-To, From and To.

    tests/campaigns/test_postmark_batch.py checks that ``data`` equals what
    anymail's own PostmarkPayload builds, plain path or not.
    """

    base_message_attrs = _faster(PostmarkPayload.base_message_attrs)
    anymail_message_attrs = _faster(PostmarkPayload.anymail_message_attrs)

    def __init__(self, message, defaults, backend) -> None:
        plain = not defaults and plain_message(message)
        if plain:
            # anymail's __init__ still sets up the payload; its walk is left
            # with the batch attributes (absent here) for is_batch() to see.
            self.base_message_attrs = ()
            self.anymail_message_attrs = _BATCH_SPECS
        super().__init__(message, defaults, backend)
        if plain:
            self._set_plain(message)

    def _set_plain(self, message) -> None:
        """What anymail's walk does for a plain message, in anymail's order."""
        self.set_from_email_list(parse_addresses(message.from_email, field="from_email"))
        self.set_to(parse_addresses(message.to, field="to"))
        self.set_cc(parse_addresses(message.cc, field="cc"))
        self.set_bcc(parse_addresses(message.bcc, field="bcc"))
        self.set_subject(message.subject)
        self.set_reply_to(parse_addresses(message.reply_to, field="reply_to"))
        self.process_extra_headers(dict(message.extra_headers))
        self.set_body(message.body)
        alternatives = getattr(message, "alternatives", None)  # EmailMultiAlternatives only
        if alternatives is not None:
            self.set_alternatives([(content, mimetype) for content, mimetype in alternatives])
        self.set_attachments([])
        metadata = getattr(message, "metadata", None)
        if metadata is not None and metadata is not UNSET:
            self.set_metadata(non_lazy_dict(metadata))
        tags = getattr(message, "tags", None)
        if tags is not None and tags is not UNSET:
            self.set_tags(list(tags))
        for attr in ("track_clicks", "track_opens"):
            value = getattr(message, attr, None)
            if value is not None and value is not UNSET:
                getattr(self, f"set_{attr}")(value)

    def process_extra_headers(self, headers) -> None:
        names = {name.lower() for name in headers if type(name) is str}
        if len(names) == len(headers) and names.isdisjoint(SPECIAL_HEADERS):
            if headers:
                self.set_extra_headers(headers)
            return
        super().process_extra_headers(headers)

    def batch_entry(self) -> bytes:
        """This message's JSON for /email/batch, or AnymailError if it cannot be one."""
        endpoint = self.get_api_endpoint()  # raises for TemplateModel without a template
        if endpoint != "email":
            # Templates and merge_* (one message per recipient) need other endpoints.
            self.unsupported_feature(f"sending to {endpoint} (use anymail's Postmark backend)")
        if self.server_token != self.backend.server_token:
            self.unsupported_feature("a server_token per message (one token per batch call)")
        try:
            return orjson.dumps(self.data)
        except TypeError as error:  # orjson.JSONEncodeError
            raise AnymailSerializationError(
                orig_err=error, email_message=self.message, backend=self.backend, payload=self
            ) from None


@dataclass(slots=True)
class _Entry:
    message: EmailMessage
    payload: BatchPostmarkPayload
    body: bytes

    def recipients(self) -> list[str]:
        emails = self.payload.to_emails + self.payload.cc_and_bcc_emails
        return [address.addr_spec for address in emails]


class _BatchCall:
    """One POST to /email/batch, shaped as anymail's ``post_to_esp`` wants a payload."""

    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.url = url
        self.headers = headers
        self.body = body

    def get_request_params(self, api_url: str) -> dict:
        return {"method": "POST", "url": self.url, "data": self.body, "headers": self.headers}


# --- Backend -----------------------------------------------------------------


class EmailBackend(AnymailPostmarkBackend):
    """Sends through Postmark's /email/batch, up to ``batch_size`` messages per call."""

    #: The dispatcher hands ``send_messages`` up to this many messages per call.
    batch_size = POSTMARK_BATCH_LIMIT

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.use_bulk_api:
            raise AnymailConfigurationError(
                "POSTMARK_USE_BULK_API does not apply to the batch backend; "
                "use anymail.backends.postmark.EmailBackend for Postmark's bulk API"
            )
        self.batch_url = urljoin(self.api_url, "email/batch")
        self.batch_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Postmark-Server-Token": self.server_token,
        }

    def build_message_payload(self, message, defaults) -> BatchPostmarkPayload:
        return BatchPostmarkPayload(message, defaults, self)

    def raise_for_status(self, response, payload, message) -> None:
        # anymail's Postmark backend lets a 422 through to read one message's
        # ErrorCode; for /email/batch a 422 means the whole call was refused.
        if not 200 <= response.status_code < 300:
            raise AnymailRequestsAPIError(
                email_message=message, payload=payload, response=response, backend=self
            )

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if not email_messages:
            return 0
        for message in email_messages:
            # Before anything is sent, so a failed call leaves every message
            # after it with a status (None: not sent) as well.
            message.anymail_status = AnymailStatus()
            message.anymail_error = None
        accepted = 0
        with self._session() as ready:
            for chunk in self._chunks(email_messages) if ready else ():
                accepted += self._post_chunk(chunk)
        return accepted

    @contextmanager
    def _session(self) -> Iterator[bool]:
        """The open session (one is opened and closed around the block if
        none is), and whether there is one: ``open()`` may have failed with
        ``fail_silently``, which also swallows the block's AnymailError."""
        created = self.open()
        try:
            yield self.session is not None
        except AnymailError:
            if not self.fail_silently:
                raise
        finally:
            if created:
                self.close()

    def send_outbound(self, emails: Sequence["OutboundEmail"]) -> list[AnymailStatus]:
        """Ladder's rendered emails (``campaigns.dispatch.compose.OutboundEmail``),
        one ``AnymailStatus`` each, in order; failures as :meth:`send_messages`.

        Each entry is the JSON anymail's payload would build for
        ``email.message()`` (a test compares them), written straight from the
        email's fields: about a tenth of the cost. Ladder's emails are always
        what the plain path calls plain. When anymail's ``pre_send`` or
        ``post_send`` has receivers, or ``SEND_DEFAULTS`` are set, the
        messages go through :meth:`send_messages` instead, so receivers and
        defaults see and shape them exactly as they would anywhere else.
        """
        if self.send_defaults or _has_receivers(type(self)):
            messages = [email.message(connection=self) for email in emails]
            self.send_messages(messages)
            return [message.anymail_status for message in messages]
        statuses = [AnymailStatus() for _ in emails]
        with self._session() as ready:
            for start in range(0, len(emails), self.batch_size) if ready else ():
                chunk = emails[start : start + self.batch_size]
                self._post_outbound(chunk, statuses[start : start + self.batch_size])
        return statuses

    def outbound_entry(self, email: "OutboundEmail") -> dict:
        """The /email/batch entry for one of Ladder's emails (see :meth:`send_outbound`)."""
        data: dict = {}
        if self.message_stream is not None:
            data["MessageStream"] = self.message_stream
        data["From"] = self._formatted(email.from_email)
        data["To"] = self._formatted(email.to)
        data["Subject"] = email.subject
        if email.reply_to:
            data["ReplyTo"] = self._formatted(email.reply_to)
        if email.headers:
            data["Headers"] = [{"Name": k, "Value": v} for k, v in email.headers.items()]
        data["TextBody"] = email.text
        data["HtmlBody"] = email.html
        data["Metadata"] = email.metadata
        if email.tag:
            data["Tag"] = email.tag
        return data

    def _formatted(self, addresses: str) -> str:
        return ", ".join(
            address.format(idna_encode=self.idna_encode) for address in parse_addresses(addresses)
        )

    def _post_outbound(self, chunk: Sequence["OutboundEmail"], statuses: list[AnymailStatus]):
        sent, parts = [], [b"["]
        for email, status in zip(chunk, statuses, strict=True):
            try:
                parts += (orjson.dumps(self.outbound_entry(email)), b",")
            except (AnymailError, TypeError) as error:  # an unparsable address, a lone surrogate
                # Not sent, with the reason where the dispatcher reads a refusal's words.
                status.esp_response = {"Message": f"not sent: {error}"}
                status.set_recipient_status(
                    {email.to_address: AnymailRecipientStatus(message_id=None, status="failed")}
                )
                continue
            sent.append((email, status))
        if not sent:
            return
        parts[-1] = b"]"
        call = _BatchCall(self.batch_url, self.batch_headers, b"".join(parts))
        response = self.post_to_esp(call, None)
        for (email, status), result in zip(
            sent, self._results(response, call, len(sent)), strict=True
        ):
            status.esp_response = result
            status.set_recipient_status(recipient_statuses([email.to_address], result))

    def _chunks(self, messages: Sequence[EmailMessage]) -> Iterator[list[_Entry]]:
        """Built entries, at most ``batch_size`` at a time (built lazily, chunk by chunk)."""
        chunk: list[_Entry] = []
        for message in messages:
            entry = self._entry(message)
            if entry is None:
                continue
            chunk.append(entry)
            if len(chunk) >= self.batch_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _entry(self, message: EmailMessage) -> _Entry | None:
        if not self.run_pre_send(message):  # (may modify the message)
            return None  # cancelled by a receiver: status None, as anymail does
        try:
            if not message.recipients():
                raise AnymailError("The message has no recipients", email_message=message)
            payload = self.build_message_payload(message, self.send_defaults)
            return _Entry(message, payload, payload.batch_entry())
        except AnymailError as error:
            message.anymail_error = error
            message.anymail_status.set_recipient_status(
                {
                    address: AnymailRecipientStatus(message_id=None, status="failed")
                    for address in message.recipients()
                }
                or {"": AnymailRecipientStatus(message_id=None, status="failed")}
            )
            return None

    def _post_chunk(self, chunk: list[_Entry]) -> int:
        # One copy of the (megabytes of) JSON: b"[" + join + b"]" would make three.
        parts = [b"["]
        for entry in chunk:
            parts += (entry.body, b",")
        parts[-1] = b"]"
        body = b"".join(parts)
        call = _BatchCall(self.batch_url, self.batch_headers, body)
        try:
            response = self.post_to_esp(call, None)
            results = self._results(response, call, len(chunk))
        except AnymailRequestsAPIError as error:
            error.email_messages = [entry.message for entry in chunk]
            raise
        accepted = 0
        for entry, result in zip(chunk, results, strict=True):
            status = entry.message.anymail_status
            status.esp_response = result
            status.set_recipient_status(recipient_statuses(entry.recipients(), result))
            accepted += result.get("ErrorCode", 0) == 0
        for entry in chunk:
            self.run_post_send(entry.message)
        return accepted

    def _results(self, response, call: _BatchCall, expected: int) -> list[dict]:
        try:
            results = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise AnymailRequestsAPIError(
                "Invalid JSON in Postmark API response",
                payload=call,
                response=response,
                backend=self,
            ) from error
        if not (
            isinstance(results, list)
            and len(results) == expected
            and all(_well_formed(result) for result in results)
        ):
            raise AnymailRequestsAPIError(
                f"Invalid Postmark batch response: expected {expected} results",
                payload=call,
                response=response,
                backend=self,
            )
        return results


def _has_receivers(sender: type) -> bool:
    return pre_send.has_listeners(sender) or post_send.has_listeners(sender)


def _well_formed(result: object) -> bool:
    # ErrorCode may be missing for Postmark service delays (anymail's note).
    if not isinstance(result, dict) or "Message" not in result:
        return False
    return result.get("ErrorCode", 0) != 0 or "MessageID" in result


def recipient_statuses(recipients: list[str], result: dict) -> dict[str, AnymailRecipientStatus]:
    """Each recipient's status from Postmark's result for their message.

    Follows anymail's reading of Postmark's answers, from the addresses the
    message was built with (parsing the answer's To again would cost as much
    as building the message).
    """
    code = result.get("ErrorCode", 0)
    text = result.get("Message", "")
    if code == 0:
        accepted = AnymailRecipientStatus(
            message_id=result["MessageID"], status="queued" if DELAYED in text else "sent"
        )
        # "Message OK, but will not deliver to these inactive addresses: …"
        inactive = _named(text, "rejected") if "inactive" in text else set()
        rejected = AnymailRecipientStatus(message_id=None, status="rejected")
        return {
            address: rejected if address.lower() in inactive else accepted for address in recipients
        }
    status = ERROR_CODE_STATUS.get(code, "failed")
    if status == "invalid" and not RECIPIENT_ERROR.match(text):
        status = "failed"
    refused = AnymailRecipientStatus(message_id=None, status=status)
    named = _named(text, status) if status in ADDRESSES_IN_MESSAGE else set()
    if not named.intersection(address.lower() for address in recipients):
        return dict.fromkeys(recipients, refused)  # the message went to nobody
    # Postmark named the culprits; the others were not sent to either.
    not_sent = AnymailRecipientStatus(message_id=None, status="failed")
    return {address: refused if address.lower() in named else not_sent for address in recipients}


def _named(text: str, status: str) -> set[str]:
    """Addresses Postmark's message names (lower-cased, as Postmark writes them)."""
    return set(
        AnymailPostmarkBackend._addr_specs_from_error_msg(text, ADDRESSES_IN_MESSAGE[status])
    )
