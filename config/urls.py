"""URLs: the admin, the API, and the pages customers see."""

from django.contrib import admin
from django.urls import include, path

from config.api import api
from customers.views import consent_confirm_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("consent/confirm/<str:token>/", consent_confirm_view, name="consent-confirm"),
    path("t/", include("campaigns.urls")),
]
