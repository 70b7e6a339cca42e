"""Tracking and unsubscribe links; config.urls mounts them under ``t/`` (short
links in every email). Reverse them as ``tracking:<name>``."""

from django.urls import path

from campaigns import views

app_name = "tracking"

urlpatterns = [
    path("o/<str:token>.gif", views.open_view, name="open"),
    path("c/<str:token>/<int:link_id>", views.click_view, name="click"),
    path("u/<str:token>", views.unsubscribe_view, name="unsubscribe"),
    path("p/<str:token>", views.preferences_view, name="preferences"),
]
