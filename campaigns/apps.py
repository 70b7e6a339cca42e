from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking
        from django.core import checks

        from campaigns.checks import webhook_secret_check
        from campaigns.selectors import email_counts
        from campaigns.webhooks import inbound_received, tracking_received
        from customers.lifecycle.mail import email_counts_register

        # Every provider's webhooks arrive through these two signals (anymail
        # normalizes them), so one receiver each serves them all.
        tracking.connect(tracking_received, dispatch_uid="ladder-webhook-tracking")
        inbound.connect(inbound_received, dispatch_uid="ladder-webhook-inbound")
        checks.register(webhook_secret_check, checks.Tags.security)
        # customers may not import campaigns: it learns its open and click rates from here.
        email_counts_register(email_counts)
