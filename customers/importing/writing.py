"""Writing checked rows in one transaction, and the rejects file."""

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db import IntegrityError, transaction

from config import clock
from customers.errors import InvalidInput
from customers.importing.spec import BATCH_SIZE, MAX_CAUSE_LENGTH, ImportRefused
from customers.importing.validating import Validated, ValidRow, progress_bar
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.profiles import (
    customers_upsert,
)


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
            progress_bar(total=len(rows), desc="Writing", unit="row", show=progress) as bar,
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
        elif result.changed:
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
