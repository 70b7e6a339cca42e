"""SQL expressions Django lacks, for the two backends Ladder runs on.

Every condition here is two-valued: it is TRUE or FALSE, never NULL. SQL's
NULL would make a condition and its negation both false, so {"not": R} would
stop meaning "everyone R does not match". Missing values are therefore caught
with CASE and COALESCE before they are compared.

PostgreSQL reads ``jsonb``; SQLite reads the text Django's JSONField writes,
with the JSON1 functions. Other backends raise ``NotSupportedError``.
"""

import json
from decimal import Decimal

from django.db import NotSupportedError
from django.db.models import BigIntegerField, BooleanField, CharField, Expression, F, Func

from config.fragments import Fragment, param, sql
from customers.rules.nodes import JsonTest, Scalar

#: Rule operator -> SQL operator, for the operators that are one.
SQL_OPS = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _not_supported(connection) -> NotSupportedError:
    return NotSupportedError(f"rules compile for PostgreSQL and SQLite, not {connection.vendor}")


# --- JSON paths --------------------------------------------------------------


class _SQLiteJson:
    """A path in a JSON text column, through SQLite's JSON1 functions.

    json_type() names the type at the path (NULL when it is missing) and
    json_extract() gives its SQL value. SQLite matches a path's keys against
    the stored text as written, and Django writes keys with json.dumps, which
    escapes non-ASCII as \\uXXXX, so the keys here are spelled the same way.
    """

    #: Scalar kind -> the json_type() names that hold it.
    TYPES = {"string": "('text')", "number": "('integer', 'real')"}

    def __init__(self, document: Fragment, path: tuple[str, ...]) -> None:
        self.document = document
        self.path = "$" + "".join(f'."{json.dumps(key)[1:-1]}"' for key in path)
        self.type = sql("json_type(", document, ", ", param(self.path), ")")
        self.value = sql("json_extract(", document, ", ", param(self.path), ")")

    def present(self) -> Fragment:
        return sql("COALESCE(", self.type, ", 'null') <> 'null'")

    def compare(self, sql_op: str, scalar: Scalar) -> Fragment:
        return self._scalar(self.type, self.value, sql_op, scalar)

    def contains(self, scalar: Scalar) -> Fragment:
        element = self._scalar(("ladder_je.type", []), ("ladder_je.value", []), "=", scalar)
        member = sql(
            "EXISTS (SELECT 1 FROM json_each(", self.document, ", ", param(self.path), ") "
            "AS ladder_je WHERE ", element, ")",
        )  # fmt: skip
        if scalar.kind != "string":
            return sql("CASE WHEN ", self.type, " = 'array' THEN ", member, " ELSE 0 END")
        return sql(
            "CASE WHEN ", self.type, " = 'text' THEN instr(lower(", self.value, "), lower(",
            param(scalar.value), ")) > 0 WHEN ", self.type, " = 'array' THEN ", member,
            " ELSE 0 END",
        )  # fmt: skip

    @classmethod
    def _scalar(cls, type_: Fragment, value: Fragment, sql_op: str, scalar: Scalar) -> Fragment:
        if scalar.kind == "boolean":
            return sql("COALESCE(", type_, f" = '{str(scalar.value).lower()}', 0)")
        return sql(
            "CASE WHEN ", type_, f" IN {cls.TYPES[scalar.kind]} THEN ", value, f" {sql_op} ",
            param(_sqlite_value(scalar)), " ELSE 0 END",
        )  # fmt: skip


def _sqlite_value(scalar: Scalar) -> str | int | float:
    """SQLite binds Decimal as text, which never equals a number: bind an int
    when the number is whole and fits, else the nearest float."""
    if isinstance(scalar.value, Decimal):
        whole = scalar.value == scalar.value.to_integral_value()
        return int(scalar.value) if whole and abs(scalar.value) < 2**63 else float(scalar.value)
    return scalar.value


class _PostgresJson:
    """A path in a jsonb column.

    Keys are followed with ``->`` and a text key one at a time: ``#>`` would
    read a key like "0" as an index into an array, which Python's dict lookup
    never does. Strings compare under COLLATE "C" (code point order, as in
    Python); numbers compare as ``numeric``, exactly.
    """

    def __init__(self, document: Fragment, path: tuple[str, ...]) -> None:
        steps = [sql(" -> ", param(key), "::text") for key in path]
        self.node = sql("(", document, *steps, ")")

    def present(self) -> Fragment:
        return sql("COALESCE(jsonb_typeof(", self.node, "), 'null') <> 'null'")

    def compare(self, sql_op: str, scalar: Scalar) -> Fragment:
        return self._scalar(self.node, sql_op, scalar)

    def contains(self, scalar: Scalar) -> Fragment:
        node = self.node
        element = self._scalar(("(ladder_je.v)", []), "=", scalar)
        # jsonb_array_elements() raises on a non-array, so it is handed '[]' instead.
        member = sql(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(", node,
            ") = 'array' THEN ", node, " ELSE '[]'::jsonb END) AS ladder_je(v) WHERE ",
            element, ")",
        )  # fmt: skip
        if scalar.kind != "string":
            return sql(
                "CASE WHEN jsonb_typeof(", node, ") = 'array' THEN ", member, " ELSE FALSE END"
            )
        return sql(
            "CASE WHEN jsonb_typeof(", node, ") = 'string' THEN ",
            _postgres_icontains(sql("(", node, " #>> '{}')"), scalar.value),
            " WHEN jsonb_typeof(", node, ") = 'array' THEN ", member, " ELSE FALSE END",
        )  # fmt: skip

    @staticmethod
    def _scalar(node: Fragment, sql_op: str, scalar: Scalar) -> Fragment:
        if scalar.kind == "boolean":
            return sql("COALESCE(", node, f" = '{str(scalar.value).lower()}'::jsonb, FALSE)")
        if scalar.kind == "string":
            return sql(
                "CASE WHEN jsonb_typeof(", node, ") = 'string' THEN (", node,
                f" #>> '{{}}') COLLATE \"C\" {sql_op} ", param(scalar.value), " ELSE FALSE END",
            )  # fmt: skip
        return sql(
            "CASE WHEN jsonb_typeof(", node, ") = 'number' THEN (", node, ")::numeric ",
            f"{sql_op} CAST(", param(scalar.value), " AS numeric) ELSE FALSE END",
        )  # fmt: skip


def _postgres_icontains(text: Fragment, needle: str) -> Fragment:
    """ASCII-case-insensitive substring: lower() under COLLATE "C" folds A-Z only."""
    return sql(
        'strpos(lower(', text, ' COLLATE "C"), lower(CAST(', param(needle),
        ' AS text) COLLATE "C")) > 0',
    )  # fmt: skip


def _json_test_sql(node: _SQLiteJson | _PostgresJson, test: JsonTest) -> Fragment:
    op, value = test.op, test.value
    if op == "exists":
        return node.present() if value else sql("NOT (", node.present(), ")")
    if op == "ne":
        return sql("(", node.present(), " AND NOT (", node.compare("=", value), "))")
    if op == "in":
        alternatives = [node.compare("=", v) for v in value]
        return sql("(", *_joined(" OR ", alternatives), ")")
    if op == "contains":
        return node.contains(value)
    return node.compare(SQL_OPS[op], value)


def _joined(separator: str, fragments: list[Fragment]) -> list[str | Fragment]:
    parts: list[str | Fragment] = []
    for i, fragment in enumerate(fragments):
        parts.extend([separator, fragment] if i else [fragment])
    return parts


class JsonPathTest(Expression):
    """TRUE where the JSON value at ``test.path`` in ``document`` passes ``test``."""

    def __init__(self, document: str | Expression, test: JsonTest) -> None:
        super().__init__(output_field=BooleanField())
        self.document = F(document) if isinstance(document, str) else document
        self.test = test

    def get_source_expressions(self) -> list:
        return [self.document]

    def set_source_expressions(self, exprs: list) -> None:
        (self.document,) = exprs

    def as_sqlite(self, compiler, connection):
        document = compiler.compile(self.document)
        return _json_test_sql(_SQLiteJson(document, self.test.path), self.test)

    def as_postgresql(self, compiler, connection):
        document = compiler.compile(self.document)
        return _json_test_sql(_PostgresJson(document, self.test.path), self.test)

    def as_sql(self, compiler, connection):
        raise _not_supported(connection)


# --- Text columns and money --------------------------------------------------


class AsciiContains(Expression):
    """TRUE where a (non-NULL) text column contains ``needle``, folding ASCII
    letters only, as Python's side does. Django's icontains would fold more
    letters on PostgreSQL than on SQLite."""

    def __init__(self, column: str | Expression, needle: str) -> None:
        super().__init__(output_field=BooleanField())
        self.column = F(column) if isinstance(column, str) else column
        self.needle = needle

    def get_source_expressions(self) -> list:
        return [self.column]

    def set_source_expressions(self, exprs: list) -> None:
        (self.column,) = exprs

    def as_sqlite(self, compiler, connection):
        column = compiler.compile(self.column)
        return sql("instr(lower(", column, "), lower(", param(self.needle), ")) > 0")

    def as_postgresql(self, compiler, connection):
        return _postgres_icontains(sql("(", compiler.compile(self.column), ")"), self.needle)

    def as_sql(self, compiler, connection):
        raise _not_supported(connection)


class CodePointOrder(Func):
    """Text that orders by Unicode code point, as Python's str does: SQLite's
    default BINARY collation already does; PostgreSQL needs COLLATE "C"."""

    template = "%(expressions)s"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template='(%(expressions)s) COLLATE "C"')

    def as_sql(self, compiler, connection, **extra):
        raise _not_supported(connection)


class Cents(Func):
    """A money column in whole cents. Summing cents is exact on both backends;
    SQLite stores decimals as binary floats, whose sum is not (0.1 + 0.2)."""

    template = "CAST(ROUND(%(expressions)s * 100) AS BIGINT)"
    output_field = BigIntegerField()
