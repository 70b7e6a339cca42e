"""Shared fixtures, and the switch between the embedded and the real set-up.

Tests marked ``integration`` need PostgreSQL, Redis and a Celery worker. On the
embedded default (no CELERY_BROKER_URL) they are deselected; when the
environment asks for those services and they are down, the run fails at once
instead of skipping.
"""

from contextlib import contextmanager

import pytest
from django.conf import settings

from config.celery import app as celery_app
from customers.services.api_keys import api_key_create


def pytest_collection_modifyitems(config, items):
    if settings.CELERY_BROKER_URL:
        return
    kept = [item for item in items if "integration" not in item.keywords]
    deselected = [item for item in items if "integration" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def pytest_sessionstart(session):
    if not settings.CELERY_BROKER_URL:
        return
    import redis
    from django.db import connection

    if connection.vendor != "postgresql":
        raise pytest.UsageError("CELERY_BROKER_URL is set, so DATABASE_URL must be PostgreSQL.")
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(f"Redis at CELERY_BROKER_URL is not reachable: {exc}") from exc


@contextmanager
def celery_conf(**values):
    """Set Celery app settings for the duration of a block (monkeypatch cannot
    restore them: they are not plain attributes)."""
    saved = {name: celery_app.conf[name] for name in values}
    celery_app.conf.update(values)
    try:
        yield
    finally:
        celery_app.conf.update(saved)


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Outside integration tests, tasks run in-process even when a broker is set,
    so unit tests see their effects and leave nothing queued in Redis."""
    if "integration" in request.keywords:
        yield
        return
    with celery_conf(task_always_eager=True):
        yield


@pytest.fixture(autouse=True)
def _fresh_link_cache():
    """Dispatch caches link ids per process; each test rolls its rows back."""
    from campaigns.dispatch.links import forget

    forget()


@pytest.fixture
def lazy_loads(monkeypatch):
    """Every deferred field a model instance loads on first read, as (model, fields).

    Endpoints that load only some columns (campaigns.tracking.DELIVERY_FIELDS)
    assert this stays empty: a field read that was not loaded costs a query
    per request, and nothing else would show it.
    """
    from django.db.models import Model

    loads = []
    refresh = Model.refresh_from_db

    def watched(instance, *args, fields=None, **kwargs):
        loads.append((type(instance).__name__, fields))
        return refresh(instance, *args, fields=fields, **kwargs)

    monkeypatch.setattr(Model, "refresh_from_db", watched)
    return loads


@pytest.fixture(autouse=True)
def _outbox_in_tmp(settings, tmp_path):
    """Each test gets its own outbox directory for the .eml backend."""
    settings.EMAIL_OUTBOX_DIR = tmp_path / "outbox"


@pytest.fixture
def api_key(db):
    _, raw = api_key_create(name="tests")
    return raw


@pytest.fixture
def api(client, api_key):
    """The Django test client, authenticated for the HTTP API."""

    class Api:
        def post(self, path, data=None, **kw):
            return client.post(
                f"/api/v1{path}",
                data=data,
                content_type="application/json",
                headers={"Authorization": f"Bearer {api_key}"},
                **kw,
            )

        def get(self, path, **kw):
            return client.get(
                f"/api/v1{path}", headers={"Authorization": f"Bearer {api_key}"}, **kw
            )

        def delete(self, path):
            return client.delete(f"/api/v1{path}", headers={"Authorization": f"Bearer {api_key}"})

    return Api()


@pytest.fixture
def messages(db):
    """Messages the journey tests send, each with variants A and B."""
    from campaigns.models import Message, Variant
    from tests.factories import email_marketing

    for key in ("welcome-1", "welcome-2", "m"):
        message = Message.objects.create(key=key, name=key, topic=email_marketing())
        for variant in ("A", "B"):
            Variant.objects.create(
                message=message,
                key=variant,
                subject=f"{key} {variant}",
                html_body="<p>Hi {{ customer.first_name }}</p>",
            )
