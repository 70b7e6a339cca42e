"""Errors that say exactly which input item and field is wrong.

Services raise ``InvalidInput`` before writing anything; the HTTP API turns it
into a 422 listing each item, the CSV import into "row N, column X" lines.
"""

from dataclasses import dataclass
from typing import Any

#: pydantic error type -> what we tell people ({ctx} values are filled in).
PYDANTIC_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "timezone_aware": "needs a time zone offset, e.g. 2026-05-01T12:00:00Z",
    "too_long": "has {actual_length} items; at most {max_length} are accepted",
    "too_short": "needs at least {min_length} item(s)",
    "string_too_long": "is longer than {max_length} characters",
}


def pydantic_message(error: dict[str, Any]) -> str:
    """One pydantic error detail in the words the API and the CSV import both use."""
    template = PYDANTIC_MESSAGES.get(error.get("type", ""))
    if template:
        return template.format(**error.get("ctx", {}))
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


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
