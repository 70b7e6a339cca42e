"""API keys: created once, shown once, stored as a hash."""

import hashlib
import secrets
from datetime import timedelta

from config import clock
from customers.models import ApiKey

#: Keys start with this, so a leaked key is recognisable by secret scanners.
KEY_PREFIX = "ldr_"
#: last_used_at is refreshed at most this often, to keep requests write-free.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """A new key; the raw key is returned here and nowhere else, ever."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(name=name, prefix=raw_key[:12], key_hash=_hash(raw_key))
    return key, raw_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The live key matching ``raw_key``, or None."""
    key = ApiKey.objects.filter(key_hash=_hash(raw_key), revoked_at__isnull=True).first()
    if key is not None:
        now = clock.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
