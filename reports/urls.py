"""Report URLs, under /admin/reports/ (see config/urls.py), each behind the admin's login.

A report is a page and its downloads: ``<name>`` the page, ``<name>-csv`` and
``<name>-json`` the files, all served by one view told the output.

The views are imported on their first request, not with the URLconf: they
bring numpy, scipy and matplotlib (about 100 MB and two seconds), and every
process that builds a URL loads the URLconf, the Celery workers and
``send_deliveries`` processes that put tracking links in emails included.
"""

from importlib import import_module

from django.contrib import admin
from django.urls import path

app_name = "reports"


def _lazy(name: str):
    """The view ``reports.views.<name>``, imported when it is first called."""

    def view(request, *args, **kwargs):
        return getattr(import_module("reports.views"), name)(request, *args, **kwargs)

    view.__module__, view.__name__, view.__qualname__ = "reports.views", name, name
    return view


def _report(route: str, view: str, name: str, *, csv: str, json: str) -> list:
    staff = admin.site.admin_view(_lazy(view))
    return [
        path(route, staff, name=name),
        path(route + csv, staff, {"output": "csv"}, name=f"{name}-csv"),
        path(route + json, staff, {"output": "json"}, name=f"{name}-json"),
    ]


urlpatterns = [
    path("", admin.site.admin_view(_lazy("index")), name="index"),
    *_report("journeys/<slug:key>/", "journey", "journey", csv="funnel.csv", json="report.json"),
    *_report(
        "experiments/<str:key>/",
        "experiment",
        "experiment",
        csv="results.csv",
        json="results.json",
    ),
    # One CSV per table of the ladder report.
    *_report("stages/", "stages", "stages", csv="<slug:table>.csv", json="report.json"),
]
