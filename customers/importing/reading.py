"""Reading the file: decoding, records with their line numbers, and mapping the header."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customers.importing.spec import ATTRIBUTES_PREFIX, ImportRefused, ImportSpec
from customers.models import Topic
from customers.services.profiles import (
    PROFILE_FIELDS,
)


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


def records(reader: Any) -> Iterator[tuple[int, list[str]]]:
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
