"""``python manage.py simulate_journey FILE.json [--days 30] [--start ISO] [--limit N]``.

Replays a draft journey over stored customers and events (docs/simulation.md);
the work is ``journeys.simulation.journey_simulate``, this only reads the
arguments and prints the report as a table or as JSON.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from config import clock
from journeys.document import JourneyInvalid
from journeys.simulation import SimulationReport, journey_simulate


class Command(BaseCommand):
    help = (
        "Replay a journey document over the stored customers and their events on a "
        "virtual clock, and print what it would have done (see docs/simulation.md). "
        "Sends nothing and stores nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="journey document (JSON)")
        parser.add_argument(
            "--days", type=int, default=30, help="length of the replayed window (default 30)"
        )
        parser.add_argument(
            "--start",
            help="start of the window, ISO 8601 (default: --days before now; UTC if no offset)",
        )
        parser.add_argument(
            "--limit", type=int, help="replay a stable sample of this many customers"
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(
        self,
        *args,
        file: Path,
        days: int,
        start: str | None,
        limit: int | None,
        format: str,
        no_progress: bool,
        **options,
    ):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        document = _read(file)
        begin = _parse_start(start) if start else clock.now() - timedelta(days=days)
        end = begin + timedelta(days=days)
        hours = (end - begin).total_seconds() / 3600
        with tqdm(
            total=hours,
            unit="h",
            desc="Simulating",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} virtual hours",
            disable=True if no_progress else None,
            delay=0.5,
        ) as bar:

            def moved(when: datetime) -> None:
                bar.update((when - begin).total_seconds() / 3600 - bar.n)

            try:
                report = journey_simulate(
                    document=document, start=begin, end=end, limit=limit, progress=moved
                )
            except JourneyInvalid as exc:
                lines = "\n".join(f"  - {problem}" for problem in exc.problems)
                raise CommandError(
                    f"{file}: not a valid journey; nothing was simulated.\n{lines}"
                ) from None
        if format == "json":
            self.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(render(report))


def _read(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"{file}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{file}: not valid JSON: {exc}") from None


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--start {text!r} is not an ISO 8601 date or time") from None
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _table(rows: list[tuple]) -> list[str]:
    """Rows of labels then one number, labels padded, numbers right-aligned."""
    if not rows:
        return ["  —"]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    number = max(len(f"{row[-1]:,}") for row in rows)
    return [
        "  "
        + "  ".join(str(cell).ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        + f"  {row[-1]:>{number},}"
        for row in rows
    ]


def _shares(rows: dict[str, dict[str, int]]) -> list[str]:
    """One line per message or split: each variant or branch with its count, in columns."""
    label = max((len(key) for key in rows), default=0)
    number = max((len(f"{n:,}") for counts in rows.values() for n in counts.values()), default=0)
    return [
        f"  {key.ljust(label)}  "
        + "   ".join(f"{name} {count:>{number},}" for name, count in counts.items())
        for key, counts in rows.items()
    ]


def render(report: SimulationReport) -> str:
    """The report as the readable summary the command prints."""
    start, end = (moment.astimezone(UTC) for moment in (report.start, report.end))
    window = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    considered = f"{report.customers:,}" + (
        f" (a sample of {report.population:,})" if report.sampled else ""
    )
    lines = [
        f"Journey {report.journey!r} ({report.name}), replayed from {window}.",
        "Nothing was sent and nothing was stored.",
        "",
        f"  customers considered  {considered}",
        f"  enrolled              {report.enrolled:,}",
        f"  emails                {report.emails:,}",
        f"  still in the journey  {sum(report.in_progress.values()):,}",
        "",
        "Steps",
    ]
    step_rows = []
    for step, outcomes in report.steps.items():
        if not outcomes:
            step_rows.append((step, "—", 0))
        for index, (outcome, count) in enumerate(outcomes.items()):
            step_rows.append((step if index == 0 else "", outcome, count))
    lines += _table(step_rows)
    lines += ["", "Still in the journey, by step", *_table(list(report.in_progress.items()))]
    lines += ["", "Exits", *_table(list(report.exits.items()))]
    lines += ["", "Conversions", *_table(list(report.conversions.items()))]
    lines += ["", "Emails per variant", *_shares(report.sends)]
    if report.splits:
        lines += ["", "Splits", *_shares(report.splits)]
    return "\n".join(lines)
