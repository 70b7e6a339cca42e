"""Importing customers, and optionally their consent, from a CSV file.

Plain functions the ``import_customers`` command strings together: build the
spec from the options, read and decode the file, map its header to fields,
validate every row, then write. The whole file is validated before anything is
written, with the schema the HTTP API uses (``CustomerIn``), so one bad row
never leaves half a file imported and the API and the import refuse the same
values with the same words. Rows travel in batches of ``BATCH_SIZE`` because
``customers_upsert`` and ``consents_record`` cost a fixed number of queries per
batch: 100,000 new customers are about a thousand queries on PostgreSQL, not a
few hundred thousand.
"""

import csv
import io
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from pydantic import ValidationError
from tqdm import tqdm

from config import clock
from customers.errors import InvalidInput, pydantic_message
from customers.models import ConsentStatus, Topic
from customers.schemas import ConsentIn, CustomerIn
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.profiles import (
    PROFILE_FIELDS,
    ProfileInput,
    customers_upsert,
    customers_upsert_check,
)

#: Rows checked and written together; the services' query count is per batch.
BATCH_SIZE = 1000

#: Prefix of a ``--map`` target that goes into the customer's attributes.
ATTRIBUTES_PREFIX = "attributes."

#: What a consent cell may say (lower-cased) -> the status it records.
CONSENT_VALUES = {
    "yes": ConsentStatus.GRANTED,
    "y": ConsentStatus.GRANTED,
    "true": ConsentStatus.GRANTED,
    "1": ConsentStatus.GRANTED,
    "no": ConsentStatus.WITHDRAWN,
    "n": ConsentStatus.WITHDRAWN,
    "false": ConsentStatus.WITHDRAWN,
    "0": ConsentStatus.WITHDRAWN,
}

#: ConsentIn field -> the option that set it, for error messages.
CONSENT_OPTIONS = {
    "source": "--consent-source",
    "text": "--consent-text",
    "text_version": "--consent-text-version",
}

#: Longest actor and cause the models store; a long file name is cut to fit.
MAX_ACTOR_LENGTH = 150
MAX_CAUSE_LENGTH = 200


class ImportRefused(Exception):
    """The options or the file as a whole are unusable; nothing was written."""


@dataclass(frozen=True)
class ImportSpec:
    """What the options ask for, checked before the file is opened."""

    #: Target ("email", "attributes.plan") -> header name, from ``--map``.
    maps: dict[str, str]
    #: Topic -> header name, from ``--consent``.
    consents: dict[Topic, str]
    ignore_columns: frozenset[str]
    ignore_unknown_columns: bool
    #: Proof recorded with every consent change; None without consent columns.
    proof: ConsentProof | None


@dataclass(frozen=True)
class Columns:
    """Where each value sits in a row: position in the header."""

    header: list[str]
    fields: dict[str, int]
    attributes: dict[str, int]
    consents: dict[Topic, int]

    def names_for(self, field_name: str) -> list[str]:
        """The header names behind a ``CustomerIn`` field, for error messages."""
        if field_name == "attributes":
            return [self.header[i] for i in self.attributes.values()]
        if field_name in self.fields:
            return [self.header[self.fields[field_name]]]
        return []


@dataclass(frozen=True)
class ValidRow:
    line: int
    profile: ProfileInput
    consents: tuple[tuple[Topic, ConsentStatus], ...]


@dataclass(frozen=True)
class RejectedRow:
    line: int
    #: The row as it was in the file, for the rejects file.
    cells: list[str]
    errors: list[str]


@dataclass
class Validated:
    header: list[str]
    valid: list[ValidRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [error for row in self.rejected for error in row.errors]


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consent_changes: int = 0
    rejected: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.consent_changes} consent changes, {self.rejected} rejected"
        )


def _split_pair(option: str, value: str) -> tuple[str, str]:
    key, sep, column = value.partition("=")
    if not sep or not key.strip() or not column.strip():
        raise ImportRefused(f'{option} "{value}": expected KEY=COLUMN, e.g. {option} email=E-mail')
    return key.strip(), column.strip()


def _maps_parse(values: Sequence[str]) -> dict[str, str]:
    maps: dict[str, str] = {}
    for value in values:
        target, column = _split_pair("--map", value)
        is_attribute = target.startswith(ATTRIBUTES_PREFIX) and target != ATTRIBUTES_PREFIX
        if target not in PROFILE_FIELDS and not is_attribute:
            raise ImportRefused(
                f'--map "{value}": {target} is not a field; use one of '
                f"{', '.join(PROFILE_FIELDS)} or {ATTRIBUTES_PREFIX}<key>"
            )
        if target in maps:
            raise ImportRefused(f"--map {target} is given twice")
        maps[target] = column
    return maps


def _consents_parse(values: Sequence[str]) -> dict[Topic, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, column = _split_pair("--consent", value)
        if key in pairs:
            raise ImportRefused(f"--consent {key} is given twice")
        pairs[key] = column
    topics = {t.key: t for t in Topic.objects.filter(key__in=pairs)} if pairs else {}
    unknown = [key for key in pairs if key not in topics]
    if unknown:
        known = ", ".join(Topic.objects.order_by("key").values_list("key", flat=True))
        raise ImportRefused(
            f'unknown consent topic "{unknown[0]}" (--consent {unknown[0]}=...); '
            f"known topics: {known or 'none'}"
        )
    return {topics[key]: column for key, column in pairs.items()}


def spec_build(
    *,
    maps: Sequence[str],
    consents: Sequence[str],
    ignore_columns: Sequence[str],
    ignore_unknown_columns: bool,
    consent_source: str,
    consent_text: str,
    consent_text_version: str,
    filename: str,
) -> ImportSpec:
    """Check the options before the file is read, so a typo costs no waiting."""
    maps_by_target = _maps_parse(maps)
    topics = _consents_parse(consents)
    proof = None
    if topics:
        if not consent_text_version:
            raise ImportRefused(
                "--consent needs --consent-text-version: the version of the wording these "
                "customers agreed to, kept as proof with every consent change"
            )
        try:
            checked = ConsentIn(
                source=consent_source, text=consent_text, text_version=consent_text_version
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ImportRefused(
                f"{CONSENT_OPTIONS[error['loc'][0]]}: {pydantic_message(error)}"
            ) from None
        proof = ConsentProof(
            source=checked.source,
            actor=f"import:{filename}"[:MAX_ACTOR_LENGTH],
            text=checked.text,
            text_version=checked.text_version,
        )
    elif consent_text or consent_text_version:
        raise ImportRefused(
            "--consent-text and --consent-text-version only apply with --consent TOPIC=COLUMN"
        )
    return ImportSpec(
        maps=maps_by_target,
        consents=topics,
        ignore_columns=frozenset(ignore_columns),
        ignore_unknown_columns=ignore_unknown_columns,
        proof=proof,
    )


def file_read(path: Path) -> str:
    """The file's text; UTF-8 with or without the BOM spreadsheet programs write.

    The whole file is decoded up front: a file in another encoding (Latin-1 from
    an old Excel) is wrong throughout, so it is refused as a whole, with the
    line of the first bad byte, rather than row by row.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportRefused(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportRefused(f"{path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportRefused(
            f"{path} is not UTF-8: line {line} has the byte 0x{data[exc.start]:02x}, which "
            'UTF-8 does not allow; save the file as "CSV UTF-8" and import it again'
        ) from None
    return text


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted value may span lines).

    Rows whose cells are all empty are skipped: spreadsheets export trailing
    ",,,," lines that nobody means as a customer.
    """
    line = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield line, cells
        line = reader.line_num + 1


def columns_map(header: list[str], spec: ImportSpec) -> Columns:
    """Match the header against the options; every column must be accounted for."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, []).append(i)
    wanted = {
        name: name
        for name in PROFILE_FIELDS
        if name not in spec.maps and name in positions and name not in spec.ignore_columns
    }
    wanted.update(spec.maps)
    used = {*wanted.values(), *spec.consents.values()}
    quoted_header = ", ".join(f'"{name}"' for name in header)

    named = [
        *((f"--map {target}={name}", name) for target, name in spec.maps.items()),
        *((f"--consent {topic.key}={name}", name) for topic, name in spec.consents.items()),
    ]
    missing = [
        f'column "{name}" (from {option}) is not in the header'
        for option, name in named
        if name not in positions
    ]
    if missing:
        raise ImportRefused("; ".join(missing) + f"; the header is: {quoted_header}")
    if not used & positions.keys() and not spec.ignore_columns & positions.keys():
        raise ImportRefused(
            f"line 1 must be a header naming the columns, but none of {quoted_header} is a "
            f"column to import (the default columns are {', '.join(PROFILE_FIELDS)})"
        )
    repeated = [name for name in used if len(positions.get(name, ())) > 1]
    if repeated:
        raise ImportRefused(f'column "{repeated[0]}" appears more than once in the header')
    unknown = [
        f'"{name}" (column {i + 1})'
        for i, name in enumerate(header)
        if name not in used and name not in spec.ignore_columns
    ]
    if unknown and not spec.ignore_unknown_columns:
        raise ImportRefused(
            f"unknown columns: {', '.join(unknown)}. Map each with --map FIELD=COLUMN "
            f"(FIELD one of {', '.join(PROFILE_FIELDS)} or {ATTRIBUTES_PREFIX}<key>), "
            "or skip it with --ignore-column COLUMN or --ignore-unknown-columns"
        )

    columns = Columns(
        header=header,
        fields={t: positions[n][0] for t, n in wanted.items() if t in PROFILE_FIELDS},
        attributes={
            t.removeprefix(ATTRIBUTES_PREFIX): positions[n][0]
            for t, n in wanted.items()
            if t.startswith(ATTRIBUTES_PREFIX)
        },
        consents={topic: positions[name][0] for topic, name in spec.consents.items()},
    )
    if "email" not in columns.fields and "external_id" not in columns.fields:
        raise ImportRefused(
            "the file has no email or external_id column, so no row could name a customer; "
            "map one with --map email=COLUMN or --map external_id=COLUMN"
        )
    return columns


def _row_error(line: int, names: Sequence[str], message: str) -> str:
    if not names:
        return f"row {line}: {message}"
    label = "column" if len(names) == 1 else "columns"
    quoted = ", ".join(f'"{name}"' for name in names)
    return f"row {line}, {label} {quoted}: {message}"


class _RowChecker:
    """Validates rows one by one, remembering what the file has said so far.

    Duplicates are tracked across the whole file here, not per batch, because
    ``customers_upsert_check`` only sees one batch at a time.
    """

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        #: (field, normalized value) -> line it first appeared on.
        self.seen: dict[tuple[str, str], int] = {}

    def check(self, line: int, cells: list[str]) -> tuple[ValidRow | None, list[str]]:
        columns = self.columns
        if len(cells) != len(columns.header):
            return None, [
                _row_error(
                    line,
                    (),
                    f"has {len(cells)} fields but the header has {len(columns.header)}; "
                    "a value holding a comma must be in double quotes",
                )
            ]
        # An empty cell leaves the stored value as it is, like a field left out
        # of an API call: an import never blanks a profile.
        data: dict[str, object] = {
            name: cells[i].strip() for name, i in columns.fields.items() if cells[i].strip()
        }
        attributes = {
            key: cells[i].strip() for key, i in columns.attributes.items() if cells[i].strip()
        }
        if attributes:
            data["attributes"] = attributes

        errors: list[str] = []
        profile = None
        try:
            profile = CustomerIn.model_validate(data).to_profile()
        except ValidationError as exc:
            for error in exc.errors():
                names = columns.names_for(str(error["loc"][0]))
                errors.append(_row_error(line, names, pydantic_message(error)))
        if profile is not None:
            errors.extend(self._duplicates(line, profile))

        consents = []
        for topic, i in columns.consents.items():
            value = cells[i].strip()
            if not value:
                continue
            status = CONSENT_VALUES.get(value.lower())
            if status is None:
                errors.append(
                    _row_error(
                        line,
                        [columns.header[i]],
                        f'"{value}" is not a consent value; use yes or no (or y/n, true/false, '
                        "1/0), or leave it empty to keep the current consent",
                    )
                )
            else:
                consents.append((topic, status))

        if errors or profile is None:
            return None, errors
        return ValidRow(line, profile, tuple(consents)), []

    def _duplicates(self, line: int, profile: ProfileInput) -> list[str]:
        errors = []
        for name in ("email", "external_id"):
            value = getattr(profile, name)
            if not value:
                continue
            first = self.seen.setdefault((name, value), line)
            if first != line:
                errors.append(
                    _row_error(
                        line,
                        self.columns.names_for(name),
                        f"{value} appears twice (first on row {first})",
                    )
                )
        return errors


def _progress(*, total: int, desc: str, unit: str, show: bool) -> tqdm:
    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None if show else True)


def file_validate(*, path: Path, spec: ImportSpec, progress: bool) -> Validated:
    """Read and check every row of the file; writes nothing.

    Row problems are collected, not raised, so one run lists them all; only a
    file that cannot be read as a whole raises ``ImportRefused``.
    """
    text = file_read(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    records = _records(reader)
    try:
        first = next(records, None)
        if first is None:
            raise ImportRefused(
                f"{path} is empty; its first line must be a header naming the columns"
            )
        header_cells = first[1]
        header = [name.strip() for name in header_cells]
        validated = Validated(header=header)
        checker = _RowChecker(columns_map(header, spec))
        total_lines = text.count("\n") + (not text.endswith("\n"))
        with _progress(total=total_lines, desc="Checking", unit="line", show=progress) as bar:
            batch: list[tuple[ValidRow, list[str]]] = []
            for line, cells in records:
                row, errors = checker.check(line, cells)
                if row is None:
                    validated.rejected.append(RejectedRow(line, cells, errors))
                else:
                    batch.append((row, cells))
                if len(batch) == BATCH_SIZE:
                    _batch_check(batch, checker.columns, validated)
                    batch = []
                bar.update(reader.line_num - bar.n)
            _batch_check(batch, checker.columns, validated)
    except csv.Error as exc:
        raise ImportRefused(f"{path}, line {reader.line_num}: {exc}") from None
    validated.rejected.sort(key=lambda row: row.line)
    return validated


def _batch_check(
    batch: list[tuple[ValidRow, list[str]]], columns: Columns, validated: Validated
) -> None:
    """Problems only the database can tell: conflicts with stored customers."""
    problems = customers_upsert_check(profiles=[row.profile for row, _ in batch])
    errors: dict[int, list[str]] = {}
    for problem in problems:
        line = batch[problem.index][0].line
        names = columns.names_for(problem.field)
        errors.setdefault(problem.index, []).append(_row_error(line, names, problem.message))
    for index, (row, cells) in enumerate(batch):
        if index in errors:
            validated.rejected.append(RejectedRow(row.line, cells, errors[index]))
        else:
            validated.valid.append(row)


def rows_write(
    *,
    rows: Sequence[ValidRow],
    proof: ConsentProof | None,
    filename: str,
    dry_run: bool,
    progress: bool,
) -> Counts:
    """Upsert the rows and record their consent, all in one transaction.

    A dry run does the same work and rolls it back, so the counts it reports
    are exactly what a real run would do, computed by the same code.
    """
    at = clock.now()
    cause = f"imported from {filename}"[:MAX_CAUSE_LENGTH]
    counts = Counts()
    try:
        with (
            transaction.atomic(),
            _progress(total=len(rows), desc="Writing", unit="row", show=progress) as bar,
        ):
            for start in range(0, len(rows), BATCH_SIZE):
                batch = rows[start : start + BATCH_SIZE]
                _batch_write(batch, proof=proof, cause=cause, at=at, counts=counts)
                bar.update(len(batch))
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as exc:
        # Typically another process stored a customer with an email or external
        # id of this file after it was checked; a new run will see that customer.
        raise ImportRefused(
            f"the database refused the import ({exc}); if another process stored the same "
            "customers meanwhile, run the import again"
        ) from None
    return counts


def _batch_write(
    batch: Sequence[ValidRow],
    *,
    proof: ConsentProof | None,
    cause: str,
    at: datetime,
    counts: Counts,
) -> None:
    try:
        results = customers_upsert(profiles=[row.profile for row in batch], cause=cause, at=at)
    except InvalidInput as exc:
        # The file was checked, but the stored customers changed since.
        lines = "; ".join(f"row {batch[e.index].line} ({e.field}): {e.message}" for e in exc.errors)
        raise ImportRefused(
            f"customers changed while this file was imported, run the import again: {lines}"
        ) from None
    changes = []
    for row, result in zip(batch, results, strict=True):
        if result.created:
            counts.created += 1
        # customers_upsert stamps updated_at with ``at`` exactly when it changed something.
        elif result.customer.updated_at == at:
            counts.updated += 1
        else:
            counts.unchanged += 1
        changes.extend(
            ConsentChange(result.customer, topic, status, proof) for topic, status in row.consents
        )
    if changes:
        counts.consent_changes += consents_record(changes=changes, at=at)


def rejects_write(*, path: Path, validated: Validated) -> None:
    """The rejected rows as they were, with the reasons in a first ``error`` column.

    The error goes first so it lines up even for a row with the wrong number of
    fields; several errors are joined with " | ", as messages may hold ";". The
    BOM makes spreadsheet programs read the file as UTF-8; the import reads it
    back with or without one. The file is written even with no rejects, so it
    never shows an earlier run's rows.
    """
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["error", *validated.header])
            for row in validated.rejected:
                writer.writerow([" | ".join(row.errors), *row.cells])
    except OSError as exc:
        raise ImportRefused(f"cannot write the rejects file {path}: {exc.strerror}") from None


def errors_list(errors: Sequence[str], *, limit: int = 20) -> str:
    """The first ``limit`` errors, one a line, and how many more there are."""
    lines = list(errors[:limit])
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "\n".join(lines)
