"""Checking every row before anything is written, in batches of ``BATCH_SIZE``."""

import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from customers.errors import pydantic_message
from customers.importing.reading import Columns, columns_map, file_read, records
from customers.importing.spec import BATCH_SIZE, CONSENT_VALUES, ImportRefused, ImportSpec
from customers.models import ConsentStatus, Topic
from customers.schemas import CustomerIn
from customers.services.profiles import (
    ProfileInput,
    customers_upsert_check,
)


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


def progress_bar(*, total: int, desc: str, unit: str, show: bool) -> tqdm:
    # disable=None lets tqdm switch itself off when stderr is not a terminal.
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None if show else True)


def file_validate(*, path: Path, spec: ImportSpec, progress: bool) -> Validated:
    """Read and check every row of the file; writes nothing.

    Row problems are collected, not raised, so one run lists them all; only a
    file that cannot be read as a whole raises ``ImportRefused``.
    """
    text = file_read(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    lines = records(reader)
    try:
        first = next(lines, None)
        if first is None:
            raise ImportRefused(
                f"{path} is empty; its first line must be a header naming the columns"
            )
        header_cells = first[1]
        header = [name.strip() for name in header_cells]
        validated = Validated(header=header)
        checker = _RowChecker(columns_map(header, spec))
        total_lines = text.count("\n") + (not text.endswith("\n"))
        with progress_bar(total=total_lines, desc="Checking", unit="line", show=progress) as bar:
            batch: list[tuple[ValidRow, list[str]]] = []
            for line, cells in lines:
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


def errors_list(errors: Sequence[str], *, limit: int = 20) -> str:
    """The first ``limit`` errors, one a line, and how many more there are."""
    lines = list(errors[:limit])
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "\n".join(lines)
