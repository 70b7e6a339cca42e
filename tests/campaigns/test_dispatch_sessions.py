"""environment_settled: a session that no longer reads the environment per call
behaves as requests would have per call."""

import pytest
import requests
from anymail.backends.postmark import EmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from campaigns.dispatch.sessions import environment_settled

URL = "https://api.postmarkapp.com/"


def per_call(url: str, session: requests.Session) -> dict:
    """What requests itself works out for one call of ``session`` to ``url``."""
    prepared = session.prepare_request(requests.Request("POST", url + "email"))
    merged = session.merge_environment_settings(prepared.url, {}, None, None, None)
    return {
        "proxies": merged["proxies"],
        "verify": merged["verify"],
        "authorization": prepared.headers.get("Authorization"),
    }


def settled_backend(settings) -> EmailBackend:
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "token", "POSTMARK_API_URL": URL}
    backend = EmailBackend()
    backend.open()
    return backend


ENVIRONMENTS = {
    "nothing set": {},
    "a proxy": {"HTTPS_PROXY": "http://proxy.internal:3128", "HTTP_PROXY": "http://p:1"},
    "a proxy the host bypasses": {
        "HTTPS_PROXY": "http://proxy.internal:3128",
        "NO_PROXY": "localhost,.postmarkapp.com",
    },
    "a CA bundle": {"REQUESTS_CA_BUNDLE": "/etc/ssl/certs/corporate.pem"},
    "curl's CA bundle": {"CURL_CA_BUNDLE": "/etc/ssl/certs/curl.pem"},
}


@pytest.mark.parametrize("environment", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_the_settled_session_calls_as_requests_would_per_call(settings, monkeypatch, environment):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE"):
        for variant in (name, name.lower()):
            monkeypatch.delenv(variant, raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    backend = settled_backend(settings)
    expected = per_call(URL, backend.session)

    environment_settled(backend)

    assert backend.session.trust_env is False
    assert per_call(URL, backend.session) == expected


def test_netrc_credentials_are_kept(settings, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.postmarkapp.com login ladder password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    backend = settled_backend(settings)
    expected = per_call(URL, backend.session)
    assert expected["authorization"].startswith("Basic ")

    environment_settled(backend)

    assert per_call(URL, backend.session) == expected


def test_backends_without_a_requests_session_are_left_alone():
    backend = LocmemBackend()
    environment_settled(backend)
    assert not hasattr(backend, "session")


def test_a_session_told_not_to_trust_the_environment_stays_so(settings, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    backend = settled_backend(settings)
    backend.session.trust_env = False
    environment_settled(backend)
    assert backend.session.proxies == {}
