"""Database helpers Django lacks: set-based bulk writes from plain tuples, and ``__any``.

``bulk_set`` exists because ``QuerySet.bulk_update`` builds a ``CASE WHEN``
expression per field per row in Python: updating 1,000 enrollments took about
three seconds of CPU, almost all of it in expression resolution. One
``UPDATE … FROM`` statement does the same in milliseconds. On PostgreSQL the
rows travel as one array per column through ``unnest`` (a dozen parameters,
not ten thousand placeholders for the driver to parse); on SQLite (3.33+) as
``VALUES``.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models import Field, ForeignObject, Model
from django.db.models.expressions import ColPairs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In

#: Rows per statement: well under SQLite's 32,766 parameters for ten columns.
ROWS_PER_STATEMENT = 1000

#: Field types whose ``get_db_prep_save`` hands these Python types back
#: unchanged: such values skip the call (about a microsecond each, ten
#: thousand times a batch). Anything else, datetimes and decimals included,
#: is prepared by the field as Django would.
_UNCHANGED = {
    "CharField": (str,),
    "TextField": (str,),
    "SlugField": (str,),
    "EmailField": (str,),
    "IntegerField": (int,),
    "BigIntegerField": (int,),
    "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,),
    "SmallIntegerField": (int,),
    "AutoField": (int,),
    "BigAutoField": (int,),
    "ForeignKey": (int,),
}


#: Stock fields whose plain values (ints, strs) need no preparing: such values
#: go to PostgreSQL as one array literal (:func:`array_literal`). Exact classes,
#: so a subclass that prepares its values its own way is left to Django.
_PLAIN_FIELDS = {
    **dict.fromkeys(
        (
            models.AutoField,
            models.BigAutoField,
            models.SmallAutoField,
            models.IntegerField,
            models.BigIntegerField,
            models.SmallIntegerField,
            models.PositiveIntegerField,
            models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField,
        ),
        int,
    ),
    **dict.fromkeys((models.CharField, models.TextField, models.EmailField, models.SlugField), str),
}


_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1


def int_array(values: Iterable[int]) -> str:
    """Ints as one PostgreSQL array literal, ``{1,2,3}``, to go with a cast."""
    return "{" + ",".join(map(str, values)) + "}"


def _text_array(values: Iterable[str]) -> str:
    # Every element quoted, with a backslash before " and \ (PostgreSQL's array syntax).
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return "{" + ",".join(quoted) + "}"


def _plain_kind(field: Field, values: Sequence[Any]) -> type | None:
    """``int`` or ``str`` when every value is that plain type of ``field`` (or
    of the field a foreign key points at), and fits a bigint; else None."""
    while field.is_relation and getattr(field, "target_field", None) is not None:
        field = field.target_field
    kind = _PLAIN_FIELDS.get(type(field))
    if kind is None or not values or not all(type(value) is kind for value in values):
        return None
    if kind is int and not (min(values) >= _BIGINT_MIN and max(values) <= _BIGINT_MAX):
        return None  # as a list, an id past bigint matches nothing rather than failing
    return kind


def _literal(kind: type, values: Iterable[Any]) -> tuple[str, str]:
    return ("bigint", int_array(values)) if kind is int else ("text", _text_array(values))


def array_literal(field: Field, values: Sequence[Any]) -> tuple[str, str] | None:
    """``(cast, literal)`` for ``values`` of ``field`` when all are its plain
    type (``int`` or ``str``; ``field`` may be a foreign key to such a field),
    else None.

    psycopg, binding client-side as Django does, writes a Python list out in
    Python, element by element (about 0.5 µs an int and 1.8 µs a str); one
    string joined here is quoted in one call, about five times cheaper for
    the 500 ids and hashes of a claim.
    """
    kind = _plain_kind(field, values)
    return None if kind is None else _literal(kind, values)


def _preparer(field, connection) -> Callable[[Any], Any]:
    """``field.get_db_prep_save`` for one column, skipped for values it would not change."""
    prepare = field.get_db_prep_save
    kinds = _UNCHANGED.get(field.get_internal_type(), ())

    def prepared(value: Any) -> Any:
        if value is None or (type(value) in kinds):
            return value
        return prepare(value, connection)

    return prepared


def _prepared(fields, rows: Sequence[Sequence[Any]], connection) -> list[list[Any]]:
    """Each row's values as the database takes them."""
    preparers = [_preparer(field, connection) for field in fields]
    return [[prepare(value) for prepare, value in zip(preparers, row, strict=True)] for row in rows]


def _arrays(fields, rows: list[list[Any]]) -> list[Any]:
    """Each column of ``rows`` as one array parameter (see :func:`array_literal`)."""
    arrays: list[Any] = []
    for field, values in zip(fields, zip(*rows, strict=True), strict=True):
        literal = array_literal(field, values)
        arrays.append(list(values) if literal is None else literal[1])
    return arrays


def bulk_set(objects: Sequence[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of each object to its row, by primary key; returns rows updated."""
    if not objects:
        return 0
    meta = type(objects[0])._meta
    attnames = [meta.pk.attname, *(meta.get_field(name).attname for name in fields)]
    rows = [[getattr(obj, name) for name in attnames] for obj in objects]
    return bulk_set_rows(type(objects[0]), fields, rows)


def bulk_set_rows(
    model: type[Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    only_if: tuple[str, Sequence[Any]] | None = None,
    constants: dict[str, Any] | None = None,
) -> int:
    """Like ``bulk_set``, from plain tuples ``(pk, *values of fields)``: no model
    instance per row on hot paths. ``only_if=(field, values)`` leaves alone rows
    whose ``field`` has moved on to another value meanwhile (a compare-and-set).
    ``constants`` are fields set to the same value on every row: one parameter
    each, not one array element per row."""
    if not rows:
        return 0
    # The real connection, not the thread-local proxy: values are prepared
    # ten thousand times a batch, and the proxy costs a lookup each time.
    connection = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = [quote(column.column) for column in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    fixed = [(meta.get_field(name), value) for name, value in (constants or {}).items()]
    if fixed:
        assignments += "".join(f", {quote(field.column)} = %s" for field, _ in fixed)
    fixed_values = [field.get_db_prep_save(value, connection) for field, value in fixed]
    where = f"{table}.{names[0]} = v.{names[0]}"
    guard: list[Any] = []
    if only_if is not None:
        field, allowed = meta.get_field(only_if[0]), list(only_if[1])
        where += f" AND {table}.{quote(field.column)} IN ({', '.join(['%s'] * len(allowed))})"
        guard = [field.get_db_prep_save(value, connection) for value in allowed]
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            prepared = _prepared(columns, rows[start : start + ROWS_PER_STATEMENT], connection)
            if connection.vendor == "postgresql":
                arrays = ", ".join(f"%s::{c.db_type(connection)}[]" for c in columns)
                params = [*fixed_values, *_arrays(columns, prepared)]
                sql = (
                    f"UPDATE {table} SET {assignments} "
                    f"FROM unnest({arrays}) AS v({', '.join(names)}) WHERE {where}"
                )
            else:
                # SQLite names VALUES columns only through a CTE's column list.
                row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
                values = ", ".join([row_sql] * len(prepared))
                params = [value for row in prepared for value in row] + fixed_values
                sql = (
                    f"WITH v({', '.join(names)}) AS (VALUES {values}) "
                    f"UPDATE {table} SET {assignments} FROM v WHERE {where}"
                )
            cursor.execute(sql, [*params, *guard])
            if connection.vendor == "postgresql":
                updated += cursor.rowcount
            else:
                # Python's sqlite3 reports rowcount -1 for a statement starting WITH.
                cursor.execute("SELECT changes()")
                updated += cursor.fetchone()[0]
    return updated


def bulk_insert(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert plain row tuples, skipping rows that hit a unique constraint;
    returns rows inserted.

    For hot paths that would otherwise build a model instance per row only to
    hand it to ``bulk_create`` (about 100 µs a row): the values go straight to
    one ``INSERT … ON CONFLICT DO NOTHING`` per thousand rows.
    """
    if not rows:
        return 0
    connection = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            prepared = _prepared(fields, rows[start : start + ROWS_PER_STATEMENT], connection)
            if connection.vendor == "postgresql":
                arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
                source = f"SELECT * FROM unnest({arrays})"
                params = _arrays(fields, prepared)
            else:
                row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
                source = f"VALUES {', '.join([row_sql] * len(prepared))}"
                params = [value for row in prepared for value in row]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({names}) {source} ON CONFLICT DO NOTHING",
                params,
            )
            inserted += cursor.rowcount
    return inserted


class _OneArray:
    """``= ANY(%s)`` with the values as one array, on PostgreSQL (see :class:`AnyOf`)."""

    lookup_name = "any"

    def get_prep_lookup(self):
        # Plain ints and strs of a stock field are what preparing would make
        # of them; a claim's lookups of 500 ids spent more on preparing each
        # one (twice) than on the rest of their statements. The literal itself
        # is joined only on PostgreSQL, in as_postgresql.
        values = self.rhs
        self.plain = None
        if isinstance(values, list | tuple | set | frozenset):
            values = list(values)
            self.plain = _plain_kind(self.lhs.output_field, values)
        return values if self.plain else super().get_prep_lookup()

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or isinstance(self.lhs, ColPairs):
            return self.as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if self.plain is not None:
            cast, literal = _literal(self.plain, self.rhs)
            return f"{lhs} = ANY(%s::{cast}[])", (*lhs_params, literal)
        placeholders, params = self.process_rhs(compiler, connection)  # drops None; empty raises
        if placeholders != "(" + ", ".join(["%s"] * len(params)) + ")":
            return self.as_sql(compiler, connection)  # values with SQL of their own
        return f"{lhs} = ANY(%s)", (*lhs_params, list(params))


@Field.register_lookup
class AnyOf(_OneArray, In):
    """``field__any=values``: ``field__in`` with the list as one array parameter on PostgreSQL.

    ``pk__in`` with 500 ids is a statement with 500 placeholders, which the
    driver (psycopg, binding client-side as Django does) splits and rewrites
    on every call, as it only caches short statements: about 4% of a
    delivery worker's CPU went to the claim's five such lists per batch.
    ``= ANY(%s)`` with the list as one array is short, the same every time,
    and PostgreSQL plans it as it plans ``IN``. Elsewhere, and for anything
    but a list of plain values (a subquery, expressions), it is ``__in``.
    """


@ForeignObject.register_lookup
class RelatedAnyOf(_OneArray, RelatedIn):
    """``foreign_key__any``: Django looks up a relation's lookups on ForeignObject, not Field."""
