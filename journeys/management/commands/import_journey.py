"""``python manage.py import_journey FILE.json [--activate]``."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from journeys.document import JourneyInvalid
from journeys.services import journey_activate, journey_save


class Command(BaseCommand):
    help = (
        "Validate a journey document and store it as the journey's newest version "
        "(see docs/journey-format.md). Nothing is stored if it is invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="journey document (JSON)")
        parser.add_argument("--activate", action="store_true", help="put it live at once")

    def handle(self, *args, file: Path, activate: bool, **options):
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{file}: not valid JSON: {exc}") from None
        try:
            version = journey_save(document=document)
            enrolled = journey_activate(journey=version.journey) if activate else 0
        except JourneyInvalid as exc:
            lines = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(
                f"{file}: not a valid journey; nothing was stored.\n{lines}"
            ) from None
        journey = version.journey
        journey.refresh_from_db()
        self.stdout.write(
            f"Journey {journey.key!r} saved as version {version.number} ({journey.status})."
        )
        if enrolled:
            self.stdout.write(f"Broadcast enrolled {enrolled:,} customers.")
