"""``python manage.py export_message KEY [-o FILE]``: a message as a message file (TOML)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.message_format import message_toml
from campaigns.selectors import message_spec


class Command(BaseCommand):
    help = (
        "Write a message and its variants as a message file (TOML, see "
        "docs/message-format.md), which import_messages reads back."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", help="message key")
        parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    def handle(self, *args, key: str, output: Path | None, **options):
        spec = message_spec(key)
        if spec is None:
            raise CommandError(f"There is no message {key!r}.")
        text = message_toml(spec)
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote message {key} to {output}")
