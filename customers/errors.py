"""Errors that say exactly which input item and field is wrong.

Services raise ``InvalidInput`` before writing anything; the HTTP API turns it
into a 422 listing each item, the CSV import into "row N, column X" lines.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    #: Position of the item in its batch, or None for a single item.
    index: int | None
    #: The field at fault, dotted for nested fields ("properties.sku").
    field: str
    message: str


class InvalidInput(Exception):
    """One or more items are invalid; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))

    def for_single_item(self) -> "InvalidInput":
        """The same errors for a call that took one item, not a batch."""
        return InvalidInput([FieldError(None, e.field, e.message) for e in self.errors])
