"""Read requests' environment settings once per batch, not once per call.

A ``requests.Session`` that trusts the environment (the default) works out,
on every call, the proxies (scanning ``os.environ`` twice), the CA bundle
variables and ``~/.netrc`` for the URL it calls: about 300 µs of CPU a call
on this project's machine, an eighth of what one message through anymail's
one-call-per-message backends costs in all (docs/performance.md). Within a
batch none of that changes, and every call of a backend goes to its one API
host, so :func:`environment_settled` works it out once when the backend is
opened, gives the session the answers and stops it asking again. The calls
go out exactly as before: through the same proxy, checked against the same
CA bundle, with the same netrc credentials.
"""

import os
from typing import Any

import requests
from requests.utils import get_environ_proxies, get_netrc_auth


def environment_settled(backend: Any) -> None:
    """Give an open anymail HTTP backend's session what its environment says, once.

    Backends without a ``requests`` session (SMTP, the ``.eml`` outbox,
    anymail's test backend) and sessions already told not to read the
    environment are left as they are.
    """
    session = getattr(backend, "session", None)
    url = getattr(backend, "api_url", None)
    if not isinstance(session, requests.Session) or not session.trust_env or not url:
        return
    # As Session.merge_environment_settings ranks them: the environment's
    # proxies before the session's own, its CA bundle before the session's
    # verify; and as Session.prepare_request: netrc only without other auth.
    session.proxies = {**session.proxies, **get_environ_proxies(url, no_proxy=None)}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    if not session.auth:
        session.auth = get_netrc_auth(url)
    session.trust_env = False
