"""System checks for what Ladder cannot run safely without."""

from typing import Any

from django.conf import settings
from django.core import checks

from campaigns.webhooks import webhook_secrets

HINT = (
    "Set ANYMAIL_WEBHOOK_SECRET to a random 'user:password' and give the provider "
    "the webhook URL with those credentials (docs/webhooks.md)."
)


def webhook_secret_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without a webhook secret Ladder refuses every provider webhook (404), so
    bounces and complaints never suppress: an error in production, a warning in
    development once a real provider backend is configured (the .eml outbox
    gets no webhooks, so nobody needs to hear about it)."""
    if webhook_secrets():
        return [
            checks.Warning(
                "ANYMAIL WEBHOOK_SECRET should be 'user:password' (HTTP basic auth).",
                hint=HINT,
                id="campaigns.W002",
            )
            for secret in webhook_secrets()
            if ":" not in secret
        ]
    message = "ANYMAIL WEBHOOK_SECRET is not set: provider webhooks are refused."
    if settings.PRODUCTION:
        return [checks.Error(message, hint=HINT, id="campaigns.E001")]
    if settings.EMAIL_BACKEND.startswith("anymail."):
        return [checks.Warning(message, hint=HINT, id="campaigns.W001")]
    return []
