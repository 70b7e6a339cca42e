"""Click-tracked links for a batch of emails, registered in two queries per variant.

A click URL names a ``VariantLink`` row, so the row must exist before the
email goes out; but which URLs an email holds is only known once it is
rendered (a loop over products makes personal ones). Rendering therefore puts
a placeholder where a link id is not known yet; after the batch is rendered,
the new URLs of each variant are stored at once and the placeholders filled.
Known ids are kept per process, so in steady state no email needs filling.

Dispatch registers inside the claim's transaction: the new ids join the
process's cache only once it commits (a rolled-back batch must not leave ids
of rows that were never stored), and every batch inserts in the same order
(variant, then URL hash), so two workers storing the same new URLs wait for
each other instead of deadlocking.
"""

import re
from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from campaigns.tokens import click_base, click_url
from campaigns.tracking import links_register

#: Link ids per process: (variant id, url) -> id. Cleared when it grows past
#: this, which costs one registration round for the next batch. Entries never
#: go stale: a variant with deliveries cannot be deleted (PROTECT), so neither
#: can its links.
_CACHE_LIMIT = 100_000
_known: dict[tuple[int, str], int] = {}


def forget() -> None:
    """Empty the cache (tests roll back the rows it points at)."""
    _known.clear()


class BatchLinks:
    """Hands out tracked URLs while a batch renders; :meth:`fill` finishes them."""

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str], int] = {}
        #: Ids this batch registered, until its transaction commits.
        self._registered: dict[tuple[int, str], int] = {}
        self._marker = f"{settings.LADDER_SITE_URL}/t/c/ladder-pending-"
        self._pattern = re.compile(re.escape(self._marker) + r"(\d+)-(\d+)")

    def tracker(self, *, delivery_id: int, variant_id: int) -> Callable[[str], str]:
        base = None

        def track(url: str) -> str:
            nonlocal base
            link_id = _known.get((variant_id, url))
            if link_id is not None:
                base = base or click_base(delivery_id)  # one signature per email
                return base + str(link_id)
            number = self._pending.setdefault((variant_id, url), len(self._pending))
            return f"{self._marker}{delivery_id}-{number}"

        return track

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def register(self) -> None:
        """Store the batch's new URLs: two queries per variant that has any."""
        by_variant: dict[int, list[str]] = defaultdict(list)
        for variant_id, url in self._pending:
            by_variant[variant_id].append(url)
        for variant_id in sorted(by_variant):
            urls = by_variant[variant_id]
            ids = links_register(variant_id=variant_id, urls=urls)
            self._registered.update(
                {(variant_id, url): i for url, i in zip(urls, ids, strict=True)}
            )
        transaction.on_commit(self._remember)

    def _remember(self) -> None:
        if len(_known) + len(self._registered) > _CACHE_LIMIT:
            _known.clear()
        _known.update(self._registered)

    def fill(self, html: str) -> str:
        """Replace an email's placeholders with signed click URLs (after :meth:`register`)."""
        if self._marker not in html:
            return html
        links = {number: link for link, number in self._pending.items()}

        def signed(match: re.Match) -> str:
            return click_url(int(match[1]), self._registered[links[int(match[2])]])

        return self._pattern.sub(signed, html)
