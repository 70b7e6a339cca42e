"""URLs: the admin and its reports, the API, the pages customers see, and provider webhooks."""

from django.contrib import admin
from django.urls import include, path

from campaigns.webhooks import anymail_urls
from config.api import api
from customers.views import consent_confirm_view

urlpatterns = [
    # Before the admin's own URLs, which answer every other path under admin/.
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("consent/confirm/<str:token>/", consent_confirm_view, name="consent-confirm"),
    path("t/", include("campaigns.urls")),
    # Every anymail provider's tracking and inbound webhooks; 404 until
    # ANYMAIL_WEBHOOK_SECRET is set (docs/webhooks.md).
    path("anymail/", include(anymail_urls())),
]
