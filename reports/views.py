"""The report pages in the admin, and their CSV and JSON downloads.

Every view is wrapped in ``admin.site.admin_view`` (``reports/urls.py``):
someone not signed in as staff is sent to the admin's login. A staff member
also needs to be allowed to view what a report is about: journeys for a
journey or a split, messages for a message's variants, customers for the
ladder. Reports only read; nothing here writes.
"""

from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from campaigns.analysis.experiments import UnknownExperiment, experiments_list
from campaigns.analysis.formats import as_csv, as_json, json_text
from campaigns.analysis.results import METRICS, PRIMARY_METRIC, ResultsError, experiment_results
from config import clock
from customers.models import Stage
from journeys.models import Journey
from reports.journey import (
    experiment_charts,
    funnel_chart,
    funnel_csv,
    journey_json,
    journey_report,
)
from reports.stage import (
    STAY_BANDS,
    TABLES,
    PeriodForm,
    stage_charts,
    stage_csv,
    stage_json,
    stage_report,
)

#: What each kind of report needs the viewer to be allowed to see.
PERMISSIONS = {
    "journey": "journeys.view_journey",
    "split": "journeys.view_journey",
    "message": "campaigns.view_message",
    "stages": "customers.view_customer",
}
#: Download formats -> content type.
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
#: An experiment's downloads: the files ``ab_report --format csv|json`` writes.
EXPERIMENT_FILES = {"csv": as_csv, "json": as_json}


def _require(request: HttpRequest, kind: str) -> None:
    if not request.user.has_perm(PERMISSIONS[kind]):
        raise PermissionDenied


def _page(request: HttpRequest, template: str, title: str, status: int = 200, **context):
    return TemplateResponse(
        request,
        template,
        {**admin.site.each_context(request), "title": title, **context},
        status=status,
    )


def _problem(request: HttpRequest, message: str) -> TemplateResponse:
    """A request the report cannot answer (unknown metric, bad period): say why."""
    return _page(request, "reports/problem.html", "Report", status=400, problem=message)


def _download(text: str, filename: str, output: str) -> HttpResponse:
    response = HttpResponse(text, content_type=CONTENT_TYPES[output])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _filename(key: str) -> str:
    """A key as part of a file name (experiment keys hold colons)."""
    return key.replace(":", "-")


def index(request: HttpRequest) -> TemplateResponse:
    """The reports the viewer may see."""
    user = request.user
    journeys = Journey.objects.order_by("name") if user.has_perm(PERMISSIONS["journey"]) else []
    experiments = [
        experiment
        for experiment in experiments_list()
        if user.has_perm(PERMISSIONS[experiment.kind])
    ]
    return _page(
        request,
        "reports/index.html",
        "Reports",
        journeys=journeys,
        experiments=experiments,
        stages=user.has_perm(PERMISSIONS["stages"]),
    )


def journey(request: HttpRequest, key: str, output: str = "html") -> HttpResponse:
    """A journey's funnel and experiments: the page, its funnel as CSV, all as JSON."""
    _require(request, "journey")
    found = get_object_or_404(Journey.objects.select_related("live_version"), key=key)
    version = request.GET.get("version") or None
    if version is not None and not version.isdigit():
        return _problem(request, f"version must be a version number, not {version!r}")
    metric = request.GET.get("metric") or PRIMARY_METRIC
    try:
        report = journey_report(
            found,
            version=version and int(version),
            metric=metric,
            # The funnel's CSV has no experiments: do not compute them.
            experiments=output != "csv",
        )
    except (LookupError, ResultsError) as exc:
        return _problem(request, str(exc))
    if output == "csv":
        return _download(funnel_csv(report), f"journey-{key}-funnel.csv", output)
    if output == "json":
        return _download(json_text(journey_json(report)), f"journey-{key}.json", output)
    title = f"Funnel of {report.name}" + (f", version {version}" if version else "")
    return _page(
        request,
        "reports/journey.html",
        f"Report: {report.name}",
        report=report,
        query=request.GET.urlencode(),
        metrics=list(METRICS),
        funnel_chart=funnel_chart(report.funnel, title=title),
        experiments=[(result, experiment_charts(result)) for result in report.experiments],
        change_url=reverse("admin:journeys_journey_change", args=[found.pk]),
    )


def experiment(request: HttpRequest, key: str, output: str = "html") -> HttpResponse:
    """One experiment, as ``ab_report`` shows it: the page, CSV, JSON."""
    kind = key.partition(":")[0]
    if kind not in ("message", "journey"):
        raise Http404(f"{key!r} is not an experiment")
    _require(request, "message" if kind == "message" else "split")
    metric = request.GET.get("metric") or PRIMARY_METRIC
    control = request.GET.get("control") or None
    try:
        result = experiment_results(key, metric=metric, control=control)
    except UnknownExperiment as exc:
        raise Http404(str(exc)) from None
    except ResultsError as exc:
        return _problem(request, str(exc))
    if output in EXPERIMENT_FILES:
        text = EXPERIMENT_FILES[output](result)
        return _download(text, f"ab-{_filename(key)}.{output}", output)
    return _page(
        request,
        "reports/experiment.html",
        f"A/B report: {result.title}",
        result=result,
        charts=experiment_charts(result),
        metrics=list(METRICS),
    )


def stages(request: HttpRequest, output: str = "html", table: str = "") -> HttpResponse:
    """The ladder over a period: the page, each table as CSV, all as JSON."""
    _require(request, "stages")
    if output == "csv" and table not in TABLES:
        raise Http404(f"there is no table {table!r}")
    now = clock.now()
    form = PeriodForm(request.GET, today=now.date())
    if not form.is_valid():
        problems = [
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, messages in form.errors.items()
            for message in messages
        ]
        return _problem(request, f"The period cannot be shown: {'; '.join(problems)}")
    report = stage_report(form.cleaned_data["period"], now=now)
    if output == "csv":
        return _download(stage_csv(report, table), f"stages-{table}.csv", output)
    if output == "json":
        return _download(json_text(stage_json(report)), "stages.json", output)
    return _page(
        request,
        "reports/stages.html",
        "Report: the ladder",
        report=report,
        form=form,
        charts=stage_charts(report),
        tables=list(TABLES),
        stages=Stage.choices,
        bands=STAY_BANDS,
        query=request.GET.urlencode(),
    )
