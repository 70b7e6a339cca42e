"""``manage.py import_customers FILE.csv``: an adapter over ``customers.importing``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from customers import importing
from customers.models import ConsentSource


class Command(BaseCommand):
    help = (
        "Create or update customers, and optionally their consent, from a CSV file. "
        "The whole file is checked first; any invalid row stops the import unless "
        "--skip-invalid is given. See docs/import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="UTF-8 CSV file whose first line is a header")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="Read FIELD (email, external_id, first_name, last_name, locale, time_zone "
            "or attributes.<key>) from COLUMN. Repeatable.",
        )
        parser.add_argument(
            "--ignore-column",
            action="append",
            default=[],
            metavar="COLUMN",
            help="Leave this column out. Repeatable.",
        )
        parser.add_argument(
            "--ignore-unknown-columns",
            action="store_true",
            help="Leave out every column that is not mapped, instead of refusing the file.",
        )
        parser.add_argument(
            "--consent",
            action="append",
            default=[],
            metavar="TOPIC=COLUMN",
            help="Record consent to TOPIC from COLUMN: yes/no, true/false, 1/0, y/n; "
            "empty keeps the current consent. Repeatable.",
        )
        parser.add_argument(
            "--consent-source",
            default=ConsentSource.IMPORT.value,
            choices=ConsentSource.values,
            help="How the consent reached us (default: import).",
        )
        parser.add_argument(
            "--consent-text-version",
            default="",
            help="Version of the wording the customers agreed to; required with --consent.",
        )
        parser.add_argument(
            "--consent-text", default="", help="The exact wording the customers agreed to."
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and write the invalid ones to a rejects file.",
        )
        parser.add_argument(
            "--rejects",
            type=Path,
            metavar="PATH",
            help="Where --skip-invalid writes rejected rows (default: FILE.rejects.csv).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check everything and report what would change; write nothing.",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars.")

    def handle(self, *args, **options):
        path: Path = options["file"]
        rejects = options["rejects"] or path.with_suffix(".rejects.csv")
        if options["rejects"] and not options["skip_invalid"]:
            raise CommandError("--rejects only applies with --skip-invalid")
        if rejects.resolve() == path.resolve():
            raise CommandError("--rejects must not be the file being imported")
        progress = not options["no_progress"]
        try:
            spec = importing.spec_build(
                maps=options["map"],
                consents=options["consent"],
                ignore_columns=options["ignore_column"],
                ignore_unknown_columns=options["ignore_unknown_columns"],
                consent_source=options["consent_source"],
                consent_text=options["consent_text"],
                consent_text_version=options["consent_text_version"],
                filename=path.name,
            )
            validated = importing.file_validate(path=path, spec=spec, progress=progress)
            if validated.rejected and not options["skip_invalid"]:
                invalid = len(validated.rejected)
                raise CommandError(
                    f"{invalid} invalid row{'s' if invalid != 1 else ''}; nothing was imported.\n"
                    f"{importing.errors_list(validated.errors)}\n"
                    "Fix them, or pass --skip-invalid to import the valid rows and write "
                    "the invalid ones to a rejects file."
                )
            if options["skip_invalid"] and not options["dry_run"]:
                # Written first: a path that cannot be written stops the import
                # before it writes anything, not after.
                importing.rejects_write(path=rejects, validated=validated)
            counts = importing.rows_write(
                rows=validated.valid,
                proof=spec.proof,
                filename=path.name,
                dry_run=options["dry_run"],
                progress=progress,
            )
        except importing.ImportRefused as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None

        counts.rejected = len(validated.rejected)
        if validated.rejected:
            self.stderr.write(importing.errors_list(validated.errors))
        if options["dry_run"]:
            self.stdout.write(f"Dry run, nothing was written. {path.name}: {counts}.")
            return
        self.stdout.write(f"Imported {path.name}: {counts}.")
        if validated.rejected:
            self.stdout.write(
                f"{counts.rejected} rejected rows are in {rejects}, "
                'with the reasons in an "error" column.'
            )
