"""Sending the outbox: claim, re-check, render, hand to the provider, record.

``send.py`` is the flow (its docstring explains the crash-safety of chunks),
``claim.py`` the claim and send-time eligibility, ``outcomes.py`` how backend
answers become sent / retry / failed, ``compose.py`` the headers,
``links.py`` click tracking for a batch, ``ratelimit.py`` the per-provider
limit, ``sessions.py`` an HTTP backend's environment read once per batch,
``pipeline.py`` batch after batch, the next rendered while the last is sent,
``parallel.py`` several sending processes where no Celery workers run.
docs/operations.md is the operator's view.
"""

from .pipeline import dispatch_until
from .send import DispatchReport, deliveries_recover, dispatch_batch

__all__ = ["DispatchReport", "deliveries_recover", "dispatch_batch", "dispatch_until"]
