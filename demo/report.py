"""What the demo found: the funnel, the emails, the experiments, and the consent check.

Everything here is read back from Ladder after the month (one aggregate query
per table, none per customer): the experiments through
``campaigns.analysis.results.experiment_results``, the same call the
``ab_report`` command makes, never recomputed here.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.db.models import Count, OuterRef, Q, Subquery
from django.template.loader import render_to_string

from campaigns.analysis.experiments import experiments_list
from campaigns.analysis.results import ExperimentResult, experiment_results
from campaigns.models import Delivery
from customers.models import ConsentRecord, ConsentStatus, Customer, Stage, Suppression
from demo.seed import Seeded
from demo.simulation import Tally
from demo.stopwatch import Stopwatch
from demo.store import CURRENCY
from journeys.models import Journey
from journeys.selectors import journey_funnel
from reports import charts
from reports.journey import experiment_charts, funnel_chart
from reports.stage import Period, stage_charts, stage_report

#: What each experiment is judged on; any other is judged on its journey's goal
#: (conversions). A subject line can only change whether the email is opened.
EXPERIMENT_METRICS = {"message:welcome-1": "opens"}
#: Words for each decision of campaigns.analysis.sequential.decide.
VERDICTS = {
    "winner": "winner {winner}",
    "keep_running": "no significant difference yet",
    "not_enough_data": "no significant difference yet",
    "invalid": "no verdict: the arms are not comparable",
}


def stage_counts() -> dict[str, int]:
    """Customers per stage, every stage present, lowest first."""
    counts = dict(Customer.objects.values_list("stage").annotate(n=Count("id")))
    return {stage: counts.get(stage, 0) for stage, _ in Stage.choices}


@dataclass(frozen=True)
class ConsentCheck:
    """Emails sent to someone who had not consented at that moment: must be none."""

    #: Customers who never granted email-marketing consent.
    never_granted: int
    emails_to_never_granted: int
    #: Emails sent while the customer's latest consent word was not "granted"
    #: (withdrawn, pending, or none yet), whoever they are.
    emails_without_consent: int
    withdrawn_in_window: int
    #: Emails sent to an address after it was suppressed (bounce, complaint, "everything").
    emails_after_suppression: int

    @property
    def ok(self) -> bool:
        return not (
            self.emails_to_never_granted
            or self.emails_without_consent
            or self.emails_after_suppression
        )


def consent_check(*, start: datetime) -> ConsentCheck:
    sent = Delivery.objects.filter(sent_at__isnull=False)
    never = Customer.objects.exclude(
        consent_records__status=ConsentStatus.GRANTED, consent_records__topic__key="email_marketing"
    )
    latest = ConsentRecord.objects.filter(
        customer=OuterRef("customer"),
        topic=OuterRef("message__topic"),
        recorded_at__lte=OuterRef("sent_at"),
    ).order_by("-recorded_at", "-pk")
    at_send = sent.annotate(word=Subquery(latest.values("status")[:1]))
    suppressed = Suppression.objects.filter(
        address_hash=OuterRef("customer__email_hash"), created_at__lt=OuterRef("sent_at")
    )
    return ConsentCheck(
        never_granted=never.count(),
        emails_to_never_granted=sent.filter(customer__in=never).count(),
        emails_without_consent=at_send.filter(
            Q(word__isnull=True) | Q(word__in=[ConsentStatus.WITHDRAWN, ConsentStatus.PENDING])
        ).count(),
        withdrawn_in_window=ConsentRecord.objects.filter(
            status=ConsentStatus.WITHDRAWN, recorded_at__gte=start
        )
        .values("customer")
        .distinct()
        .count(),
        emails_after_suppression=sent.filter(
            customer__email_hash__in=Subquery(suppressed.values("address_hash"))
        ).count(),
    )


@dataclass(frozen=True)
class Verdict:
    result: ExperimentResult

    @property
    def text(self) -> str:
        decision = self.result.decision
        return VERDICTS[decision.status].format(winner=decision.winner)


@dataclass
class DemoReport:
    start: datetime
    end: datetime
    seed: int
    fresh: bool
    seeded_customers: int
    seeded_events: int
    customers: int
    before: dict[str, int]
    after: dict[str, int]
    tally: Tally
    loaded: dict[str, list[str]]
    emails_sent: int
    emails_by_journey: list[tuple[str, int, int, int]]
    emails_by_variant: list[tuple[str, str, int, int, int]]
    suppressed: int
    consent: ConsentCheck
    experiments: list[Verdict]
    stopwatch: Stopwatch
    problems: list[str] = field(default_factory=list)


def report_gather(
    *,
    start: datetime,
    end: datetime,
    seed: int,
    seeded: Seeded,
    before: dict[str, int],
    tally: Tally,
    loaded: dict[str, list[str]],
    fresh: bool,
    stopwatch: Stopwatch,
) -> DemoReport:
    sent = Delivery.objects.filter(sent_at__isnull=False).order_by()
    counts = {"sent": Count("pk"), "opened": Count("opened_at"), "clicked": Count("clicked_at")}
    by_journey = [
        (row["journey_key"], row["sent"], row["opened"], row["clicked"])
        for row in sent.values("journey_key").annotate(**counts).order_by("journey_key")
    ]
    by_variant = [
        (row["message__key"], row["variant__key"], row["sent"], row["opened"], row["clicked"])
        for row in sent.values("message__key", "variant__key")
        .annotate(**counts)
        .order_by("message__key", "variant__key")
    ]
    experiments = [
        Verdict(experiment_results(e.key, metric=EXPERIMENT_METRICS.get(e.key, "conversions")))
        for e in experiments_list()
    ]
    consent = consent_check(start=start)
    report = DemoReport(
        start=start,
        end=end,
        seed=seed,
        fresh=fresh,
        seeded_customers=len(seeded.personas),
        seeded_events=seeded.events,
        customers=Customer.objects.count(),
        before=before,
        after=stage_counts(),
        tally=tally,
        loaded=loaded,
        emails_sent=sent.count(),
        emails_by_journey=by_journey,
        emails_by_variant=by_variant,
        suppressed=Suppression.objects.count(),
        consent=consent,
        experiments=experiments,
        stopwatch=stopwatch,
    )
    if not consent.ok:
        report.problems.append(
            "Consent check FAILED: emails went to customers who had not consented or were "
            "suppressed. This is a bug; please report it."
        )
    return report


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def summary_lines(report: DemoReport, *, report_path: Path) -> list[str]:
    days = (report.end - report.start).days
    counts = report.tally.counts
    lines = [
        "",
        f"Ladder demo: {days} simulated days, {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d} "
        f"(UTC), seed {report.seed}.",
    ]
    if report.fresh:
        lines.append("Started from a clean demo database.")
    lines += [
        f"Store: {report.seeded_customers:,} customers with {report.seeded_events:,} events of "
        f"history; {counts['sign-ups (CSV import)']:,} signed up during the month "
        f"({report.customers:,} now).",
        f"Loaded from examples/: {len(report.loaded['journeys'])} journeys "
        f"({', '.join(report.loaded['journeys'])}) and {len(report.loaded['messages'])} messages.",
        "",
        "Stage funnel      before     after",
    ]
    for stage, label in Stage.choices:
        before, after = report.before[stage], report.after[stage]
        lines.append(f"  {label:<12} {before:>9,} {after:>9,}  ({after - before:+,})")
    lines += ["", f"Emails sent: {report.emails_sent:,} (as .eml files in the outbox)"]
    for journey, sent, opened, clicked in report.emails_by_journey:
        lines.append(
            f"  {journey or '(no journey)':<17} {sent:>6,} sent, {_rate(opened, sent):>6} opened, "
            f"{_rate(clicked, sent):>6} clicked"
        )
    lines += ["", "What customers did, through Ladder's URLs and the API"]
    for name in sorted(counts):
        if name != "emails received":
            lines.append(f"  {name:<32} {counts[name]:>7,}")
    revenue = report.tally.revenue
    lines.append(
        f"  revenue: {revenue[True]:,.2f} {CURRENCY} after an email, "
        f"{revenue[False]:,.2f} {CURRENCY} unprompted"
    )
    check = report.consent
    lines += [
        "",
        f"Consent check: {'OK' if check.ok else 'FAILED'}. "
        f"{check.never_granted:,} customers never consented and got "
        f"{check.emails_to_never_granted:,} emails; {check.withdrawn_in_window:,} withdrew during "
        f"the month; {check.emails_without_consent:,} emails went to anyone without consent at "
        f"the time, {check.emails_after_suppression:,} to a suppressed address "
        f"({report.suppressed:,} suppressed).",
        "",
        "Experiments (campaigns.analysis, the same results as `python manage.py ab_report`)",
    ]
    for verdict in report.experiments:
        result = verdict.result
        rates = ", ".join(
            f"{arm.name} {_rate(m.count, m.total)} of {m.total:,}"
            for arm in result.arms
            if (m := arm.metrics[result.metric])
        )
        lines.append(f"  {result.key} on {result.metric}: {verdict.text}")
        lines.append(f"      {rates}; {result.decision.reason}")
    lines += ["", f"Report with charts: {report_path}"]
    return lines


def stopwatch_lines(stopwatch: Stopwatch) -> list[str]:
    rows = stopwatch.rows()
    total = sum(seconds for _, _, seconds in rows)
    lines = [f"Where the CPU time went ({total:.1f} s in what is timed)"]
    for name, calls, seconds in rows:
        each = f"{seconds / calls * 1000:8.1f} ms each" if calls > 1 else ""
        lines.append(f"  {name:<46} {calls:>6,} calls {seconds:7.1f} s {each}")
    return lines


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _experiment_rows(verdict: Verdict) -> dict:
    result = verdict.result
    arms = []
    for arm in result.arms:
        metric = arm.metrics[result.metric]
        interval = "" if metric.ci_low is None else f"{metric.ci_low:.1%} to {metric.ci_high:.1%}"
        p = "" if metric.always_valid_p is None else f"{metric.always_valid_p:.3g}"
        lift = "" if metric.lift is None else f"{metric.lift:+.1%}"
        name = f"{arm.name} (control)" if arm.is_control else arm.name
        arms.append((name, arm.units, arm.sent, metric.count, _percent(metric.rate), interval,
                     lift, p))  # fmt: skip
    return {
        "key": result.key,
        "title": result.title,
        "metric": result.metric,
        "verdict": verdict.text,
        "reason": result.decision.reason,
        "arms": arms,
    }


def report_charts(report: DemoReport) -> dict:
    """The charts of the report, drawn by the admin report pages' own functions
    (``reports``): the ladder before and after and over the month, each
    journey's funnel, each experiment's rates and lifts. SVG text, inline."""
    labels = [label for _, label in Stage.choices]
    ladder = stage_report(
        Period(
            start=report.start.date(), end=(report.end - timedelta(days=1)).date(), bucket="day"
        ),
        now=report.end,
    )
    over_month = stage_charts(ladder)
    return {
        "funnel": charts.grouped_bars(
            labels,
            {"before": list(report.before.values()), "after": list(report.after.values())},
            title="Customers per stage, before and after the month",
            axis="customers",
        ),
        "ladder": [over_month["counts"], over_month["transitions"]],
        "journeys": [
            funnel_chart(journey_funnel(journey), title=f"{journey.name}: funnel")
            for journey in Journey.objects.order_by("key")
        ],
        "experiments": {
            verdict.result.key: experiment_charts(verdict.result) for verdict in report.experiments
        },
    }


def report_html(report: DemoReport) -> str:
    """The report page: every table of the summary, and the charts."""
    funnel = [(label, report.before[s], report.after[s]) for s, label in Stage.choices]
    drawn = report_charts(report)
    experiments = [
        {**_experiment_rows(verdict), "charts": drawn["experiments"][verdict.result.key]}
        for verdict in report.experiments
    ]
    actions = sorted((n, c) for n, c in report.tally.counts.items() if n != "emails received")
    context = {
        "report": report,
        "funnel": funnel,
        "actions": actions,
        "experiments": experiments,
        "charts": drawn,
    }
    return render_to_string("demo/report.html", context)
