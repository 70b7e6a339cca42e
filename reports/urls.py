"""Report URLs, under /admin/reports/ (see config/urls.py), each behind the admin's login.

A report is a page and its downloads: ``<name>`` the page, ``<name>-csv`` and
``<name>-json`` the files, all served by one view told the output.
"""

from django.contrib import admin
from django.urls import path

from reports import views

app_name = "reports"


def _report(route: str, view, name: str, *, csv: str, json: str) -> list:
    staff = admin.site.admin_view(view)
    return [
        path(route, staff, name=name),
        path(route + csv, staff, {"output": "csv"}, name=f"{name}-csv"),
        path(route + json, staff, {"output": "json"}, name=f"{name}-json"),
    ]


urlpatterns = [
    path("", admin.site.admin_view(views.index), name="index"),
    *_report(
        "journeys/<slug:key>/", views.journey, "journey", csv="funnel.csv", json="report.json"
    ),
    *_report(
        "experiments/<str:key>/",
        views.experiment,
        "experiment",
        csv="results.csv",
        json="results.json",
    ),
    # One CSV per table of the ladder report.
    *_report("stages/", views.stages, "stages", csv="<slug:table>.csv", json="report.json"),
]
