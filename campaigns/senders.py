"""Verified senders: the only From addresses Ladder sends from.

Providers refuse, or worse silently junk, mail from a domain they have not
verified, so the list is configuration (``LADDER_SENDERS``), checked when a
message is saved and again when it is sent (the setting may have changed).
"""

from email.utils import parseaddr

from django.conf import settings


class SenderNotVerified(ValueError):
    """The address is not in ``LADDER_SENDERS``."""


def verified_senders() -> list[str]:
    return list(settings.LADDER_SENDERS)


def sender_for(sender: str) -> str:
    """The full From header for a message's ``sender`` (blank: the default).

    A message may name a verified sender by its bare address
    (``news@example.com``) or as written in the setting
    (``Example <news@example.com>``); either way the setting's form is used.
    """
    senders = verified_senders()
    if not senders:
        raise SenderNotVerified("LADDER_SENDERS is empty: no verified sender to send from")
    if not sender.strip():
        return senders[0]
    wanted = parseaddr(sender)[1].lower()
    for verified in senders:
        if parseaddr(verified)[1].lower() == wanted:
            return verified
    raise SenderNotVerified(
        f"{sender!r} is not a verified sender; use one of: {', '.join(senders)}"
    )
