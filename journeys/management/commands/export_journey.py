"""``python manage.py export_journey KEY [--number N] [-o FILE]``."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from journeys.models import JourneyVersion


class Command(BaseCommand):
    help = "Write a journey version's document as JSON (the newest version by default)."

    def add_arguments(self, parser):
        parser.add_argument("key", help="journey key")
        parser.add_argument("--number", type=int, help="version number (default: newest)")
        parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    def handle(self, *args, key: str, number: int | None, output: Path | None, **options):
        versions = JourneyVersion.objects.filter(journey__key=key).order_by("-number")
        if number is not None:
            versions = versions.filter(number=number)
        found = versions.first()
        if found is None:
            wanted = f"journey {key!r}" + (f" version {number}" if number else "")
            raise CommandError(f"There is no {wanted}.")
        text = json.dumps(found.document, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {key} version {found.number} to {output}")
