"""``python manage.py import_messages PATH [PATH ...]``: message files (TOML) into the database."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.message_format import MessageInvalid, MessageSpec, message_parse
from campaigns.services import MessageSaved, messages_save
from config import clock


def _files(paths: list[Path]) -> list[Path]:
    """The files named, and the ``*.toml`` files of the directories named, in order."""
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.toml"))
        elif path.exists():
            found.append(path)
        else:
            raise CommandError(f"{path}: no such file or directory")
    if not found:
        raise CommandError(f"no .toml message files in {', '.join(map(str, paths))}")
    # A file named twice (itself and its directory) is read once.
    once: dict[Path, Path] = {}
    for path in found:
        once.setdefault(path.resolve(), path)
    return list(once.values())


class Command(BaseCommand):
    help = (
        "Create or update messages and their variants from message files (TOML, see "
        "docs/message-format.md). Every file is checked first; if one is invalid, "
        "nothing is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="+", type=Path, help="message files, or directories of *.toml files"
        )

    def handle(self, *args, paths: list[Path], **options):
        specs: dict[Path, MessageSpec] = {}
        problems: list[str] = []
        for path in _files(paths):
            try:
                spec = message_parse(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                problems.append(f"{path}: not UTF-8 text")
                continue
            except MessageInvalid as exc:
                problems += [f"{path}: {problem}" for problem in exc.problems]
                continue
            twin = next((p for p, s in specs.items() if s.key == spec.key), None)
            if twin is not None:
                problems.append(f"{path}: message {spec.key!r} is also in {twin}")
            specs[path] = spec
        if not problems:
            try:
                saved = messages_save(specs=list(specs.values()), at=clock.now())
            except MessageInvalid as exc:
                files = {spec.key: path for path, spec in specs.items()}
                problems = [_in_file(problem, files) for problem in exc.problems]
        if problems:
            lines = "\n".join(f"  - {problem}" for problem in problems)
            raise CommandError(f"Not imported; nothing was stored.\n{lines}")
        for result in saved:
            self.stdout.write(_outcome(result))


def _outcome(result: MessageSaved) -> str:
    key = result.message.key
    if result.unchanged:
        return f"Message {key!r} unchanged."
    variants = ", ".join(
        f"{', '.join(keys)} {label}"
        for keys, label in (
            (result.variants_created, "added"),
            (result.variants_updated, "changed"),
            (result.variants_deleted, "deleted"),
        )
        if keys
    )
    what = "created" if result.created else "updated"
    return f"Message {key!r} {what}" + (f"; variants {variants}." if variants else ".")


def _in_file(problem: str, files: dict) -> str:
    """'key: problem' from the service, as 'file: problem'."""
    key, _, rest = problem.partition(": ")
    return f"{files[key]}: {rest}" if key in files else problem
