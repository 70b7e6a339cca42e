"""The settings module: defaults for a bare machine, refusals for production."""

import os
import subprocess
import sys
from email import message_from_bytes
from pathlib import Path

from django.core.mail import EmailMessage

from config.mail import EmlOutboxBackend

ROOT = Path(__file__).resolve().parent.parent


def _load_settings(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER, "
            "settings.EMAIL_BACKEND)",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_it_runs_on_a_bare_machine_with_sqlite_in_process_tasks_and_an_eml_outbox(tmp_path):
    result = _load_settings(LADDER_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "True",
        "config.mail.EmlOutboxBackend",
    ]


def test_production_refuses_the_development_secret_key(tmp_path):
    result = _load_settings(LADDER_ENV="production", DEBUG="false", LADDER_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "refuses the development key" in result.stderr


def test_production_refuses_debug(tmp_path):
    result = _load_settings(
        LADDER_ENV="production", DEBUG="true", SECRET_KEY="x" * 50, LADDER_VAR_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert "refuses to start with DEBUG on" in result.stderr


def test_production_starts_with_a_real_key_and_debug_off(tmp_path):
    result = _load_settings(
        LADDER_ENV="production",
        DEBUG="false",
        SECRET_KEY="x" * 50,
        LADDER_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/ladder",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "False",
        "anymail.backends.postmark.EmailBackend",
    ]


def test_the_outbox_backend_writes_one_eml_file_per_message(tmp_path):
    backend = EmlOutboxBackend(outbox_dir=tmp_path)
    messages = [
        EmailMessage("Hello", "Body one", "shop@example.com", ["ann@example.com"]),
        EmailMessage("Again", "Body two", "shop@example.com", ["bob@example.com"]),
    ]
    assert backend.send_messages(messages) == 2
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 2
    parsed = sorted(message_from_bytes(f.read_bytes())["To"] for f in files)
    assert parsed == ["ann@example.com", "bob@example.com"]


def test_anymail_settings_from_the_environment_get_their_types(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(repr(settings.ANYMAIL['REQUESTS_TIMEOUT']), "
        "repr(settings.ANYMAIL['POSTMARK_USE_BULK_API']), "
        "repr(settings.ANYMAIL['POSTMARK_SERVER_TOKEN']))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LADDER_VAR_DIR": str(tmp_path),
        "ANYMAIL_REQUESTS_TIMEOUT": "30",
        "ANYMAIL_POSTMARK_USE_BULK_API": "false",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "0123",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["30.0", "False", "'0123'"]
