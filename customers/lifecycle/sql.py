"""SQL building blocks the lifecycle's set-based statements share.

Statements are written by hand where the ORM cannot say them (an UPDATE from
an aggregate, per backend), as fragments of text and parameters joined in
order (``config.fragments``); here, the batch they cover and rows as a FROM
item, each of which travels as one parameter, however many ids or rows.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from config.fragments import Fragment


@dataclass(frozen=True)
class Batch:
    """The customers one recompute covers: the ids some activity named, or a
    range of ids (a sweep chunk, which then needs no list of ids to send to the
    database and for it to plan around). Erased customers are never covered."""

    ids: tuple[int, ...] = ()
    #: ``[low, high)``, instead of ``ids``.
    id_range: tuple[int, int] | None = None

    def q(self, field: str = "pk") -> Q:
        """The batch as an ORM condition on ``field``."""
        if self.id_range is not None:
            low, high = self.id_range
            return Q(**{f"{field}__gte": low, f"{field}__lt": high})
        if connection.vendor == "postgresql":
            ids = RawSQL("SELECT unnest(%s::bigint[])", (list(self.ids),))
        else:
            ids = RawSQL("SELECT value FROM json_each(%s)", (json.dumps(self.ids),))
        return Q(**{f"{field}__in": ids})

    def scope(self) -> Q | None:
        """What rules are told about the batch (``rule_q``'s ``scope``): its id
        range. Not a list of ids: each subquery row would be searched for in it."""
        return None if self.id_range is None else self.q("customer_id")

    def where(self, column: str) -> Fragment:
        """The batch as SQL on ``column``; ids travel as one parameter however many."""
        if self.id_range is not None:
            return f"{column} >= %s AND {column} < %s", list(self.id_range)
        if connection.vendor == "postgresql":
            return f"{column} = ANY(%s::bigint[])", [list(self.ids)]
        return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(self.ids)]


def rows_source(columns: dict[str, str], rows: Sequence[Sequence]) -> Fragment:
    """Plain rows as a FROM item ``v(column, …)``; ``columns`` maps each name to
    its PostgreSQL type. The rows travel as one JSON parameter: Django binds
    parameters on the client, where a JSON string costs a fraction of an array
    literal per column.
    """
    if connection.vendor == "postgresql":
        types = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        keyed = [dict(zip(columns, row, strict=True)) for row in rows]
        return f"json_to_recordset(%s::json) AS v({types})", [json.dumps(keyed)]
    picked = ", ".join(f"json_extract(value, '$[{n}]') AS {name}" for n, name in enumerate(columns))
    return f"(SELECT {picked} FROM json_each(%s)) AS v", [json.dumps([list(r) for r in rows])]
