"""Signed tokens in the links of every email, and the absolute URLs that carry them.

Each purpose signs with its own salt, so a token made for one endpoint is
refused by every other (an open pixel token cannot unsubscribe anyone). The
payload is only ids; the signature, not secrecy, is what makes them safe.

Open, click and unsubscribe tokens never expire: they sit in emails people
keep for years, and an unsubscribe link must work whenever it is used (RFC
8058, CAN-SPAM's 30 days, and mailbox providers' bulk-sender rules; refusing
an old unsubscribe link only turns it into a spam complaint). The worst a
forwarded email can do with them is unsubscribe its recipient or count a
click. Preference tokens expire after ``PREFERENCES_MAX_AGE``: the preference
centre can also *grant* consent, and a link in a forwarded email should not
do that forever. The unsubscribe page, which never expires, links to a fresh
preference centre, so an old email still leads there.

All tokens follow ``SECRET_KEY``; when it is rotated, keep the old key in
``SECRET_KEY_FALLBACKS`` or every unsubscribe link already sent stops working.
"""

import hashlib
import hmac
import time
from datetime import timedelta
from enum import StrEnum
from functools import cache

from django.conf import settings
from django.core import signing
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse


class Purpose(StrEnum):
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


#: purpose -> signing salt; one each, so tokens do not cross endpoints.
SALTS = {
    Purpose.OPEN: "ladder.tracking.open",
    Purpose.CLICK: "ladder.tracking.click",
    Purpose.UNSUBSCRIBE: "ladder.tracking.unsubscribe",
    Purpose.PREFERENCES: "ladder.tracking.preferences",
}

#: How long a preference centre link works (see the module docstring for why
#: only these expire).
PREFERENCES_MAX_AGE = timedelta(days=30)

#: purpose -> age limit; None means the token carries no timestamp and never expires.
MAX_AGES: dict[Purpose, timedelta | None] = {
    Purpose.OPEN: None,
    Purpose.CLICK: None,
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: PREFERENCES_MAX_AGE,
}

#: purpose -> how many ids the payload holds.
ARITY = {
    Purpose.OPEN: 1,
    Purpose.CLICK: 1,
    Purpose.UNSUBSCRIBE: 1,
    Purpose.PREFERENCES: 1,
}


class TokenInvalid(Exception):
    """Tampered, made for another purpose, expired, or not one of ours."""


def _signer(purpose: Purpose) -> signing.Signer:
    # Timestamps only where they are checked: open and click tokens appear in
    # every link of every email, and shorter is better there.
    if MAX_AGES[purpose] is None:
        return signing.Signer(salt=SALTS[purpose])
    return signing.TimestampSigner(salt=SALTS[purpose])


# Tokens are made a dozen times per email. The settings they depend on are
# read once and kept (a setting read through Django's lazy settings object
# costs more than the HMAC); a settings override (tests) empties the caches.


@cache
def _mac(purpose: Purpose) -> hmac.HMAC:
    # Django's salted_hmac derives this key on every call; it depends only on
    # the salt and the secret, so it is derived once here.
    key = hashlib.sha256(f"{SALTS[purpose]}signer{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def token_make(purpose: Purpose, *ids: int) -> str:
    """A URL-safe token signing ``ids`` for ``purpose``.

    Byte for byte what ``Signer(salt=…).sign_object(ids)`` (or
    ``TimestampSigner``) makes, so Django's signer reads it back, but about ten
    times faster: an email carries a dozen tokens, and Django's signer costs
    some 30 µs each.
    """
    if len(ids) != ARITY[purpose]:
        raise ValueError(f"a {purpose} token holds {ARITY[purpose]} ids, not {len(ids)}")
    if not all(type(value) is int for value in ids):
        raise TypeError("token ids are ints")
    value = signing.b64_encode(("[" + ",".join(map(str, ids)) + "]").encode()).decode()
    if MAX_AGES[purpose] is not None:
        value = f"{value}:{signing.b62_encode(int(time.time()))}"
    mac = _mac(purpose).copy()
    mac.update(value.encode())
    return f"{value}:{signing.b64_encode(mac.digest()).decode()}"


def token_read(purpose: Purpose, token: str) -> tuple[int, ...]:
    """The ids a token signs, or ``TokenInvalid``."""
    signer = _signer(purpose)
    try:
        if isinstance(signer, signing.TimestampSigner):
            payload = signer.unsign_object(token, max_age=MAX_AGES[purpose])
        else:
            payload = signer.unsign_object(token)
    except (signing.BadSignature, ValueError):
        # BadSignature covers tampering, a foreign salt and expiry; ValueError a
        # signature over something that is not our JSON.
        raise TokenInvalid from None
    if (
        not isinstance(payload, list)
        or len(payload) != ARITY[purpose]
        or not all(type(value) is int for value in payload)
    ):
        raise TokenInvalid
    return tuple(payload)


#: Stands for the link id when the click URL is reversed once.
_LINK_MARKER = "987654321"


@cache
def _around_token(name: str) -> tuple[str, str]:
    # reverse() costs ~30 µs; the URL only differs by its token (and a click
    # URL by its link id, which comes last).
    marker = "LADDERTOKEN"
    args = [marker, int(_LINK_MARKER)] if name == "tracking:click" else [marker]
    before, _, after = (settings.LADDER_SITE_URL + reverse(name, args=args)).partition(marker)
    return before, after


def _absolute(name: str, token: str) -> str:
    before, after = _around_token(name)
    return before + token + after


def open_pixel_url(delivery_id: int) -> str:
    """The 1x1 image that records an open of this delivery."""
    return _absolute("tracking:open", token_make(Purpose.OPEN, delivery_id))


def click_base(delivery_id: int) -> str:
    """Every click URL of one delivery, without the link id at the end.

    The token signs only the delivery, so an email with ten links is signed
    once. The link id after it is not signed, and need not be: the redirect
    only follows links registered for the delivery's variant, so changing it
    can at most record a click on another link of the same email.
    """
    before, after = _around_token("tracking:click")
    return before + token_make(Purpose.CLICK, delivery_id) + after.removesuffix(_LINK_MARKER)


def click_url(delivery_id: int, link_id: int) -> str:
    """The redirect for link ``link_id`` (from ``links_register``) of this delivery."""
    return click_base(delivery_id) + str(link_id)


def unsubscribe_token(delivery_id: int) -> str:
    """The token of a delivery's unsubscribe links (page, one-click POST, mailto)."""
    return token_make(Purpose.UNSUBSCRIBE, delivery_id)


def unsubscribe_url(delivery_id: int, *, token: str | None = None) -> str:
    """The unsubscribe page, and the RFC 8058 one-click POST target.

    ``token`` is :func:`unsubscribe_token` of the same delivery, when the
    caller has it already (an email carries it three times).
    """
    return _absolute("tracking:unsubscribe", token or unsubscribe_token(delivery_id))


def preferences_url(customer_id: int) -> str:
    """The preference centre; works for ``PREFERENCES_MAX_AGE``."""
    return _absolute("tracking:preferences", token_make(Purpose.PREFERENCES, customer_id))


def unsubscribe_mailto(delivery_id: int, *, token: str | None = None) -> str:
    """The mailto: unsubscribe for clients without one-click; the inbound webhook
    reads the token back from the subject (docs/webhooks.md)."""
    token = token or unsubscribe_token(delivery_id)
    return f"mailto:{settings.LADDER_UNSUBSCRIBE_MAILBOX}?subject=unsubscribe-{token}"


def list_unsubscribe_headers(delivery_id: int, *, token: str | None = None) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (https first, then mailto) and the RFC 8058
    one-click header, which every marketing email needs."""
    token = token or unsubscribe_token(delivery_id)
    https = unsubscribe_url(delivery_id, token=token)
    mailto = unsubscribe_mailto(delivery_id, token=token)
    return {
        "List-Unsubscribe": f"<{https}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@receiver(setting_changed)
def _forget_settings(*, setting: str, **kwargs) -> None:
    if setting in ("SECRET_KEY", "LADDER_SITE_URL", "ROOT_URLCONF"):
        _mac.cache_clear()
        _around_token.cache_clear()
