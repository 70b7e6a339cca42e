"""Writing ladder moves: the stage on the customer, and a StageChange with its cause.

Two statements for any number of moves, with the rows as a few parameters.
``customers.services.stage.stages_set`` does the same for a handful of model
instances (the admin, journey steps); a sweep moves hundreds of thousands of
customers the first time, where a model instance and a prepared datetime per
row cost more than the writes themselves.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from config.fragments import param, sql
from customers.lifecycle.sql import rows_source
from customers.models import Customer, StageChange

#: One move: (customer id, from stage, to stage, cause).
Move = tuple[int, str, str, str]

#: The columns of a move, with their PostgreSQL types.
MOVE_COLUMNS = {"id": "bigint", "from_stage": "text", "to_stage": "text", "cause": "text"}


def moves_write(moves: Sequence[Move], *, at: datetime) -> None:
    """Put each customer on their new stage and record the move at ``at``.

    The caller holds the customers' rows locked, so no other writer moved them
    since their stage was read.
    """
    if not moves:
        return
    moment = param(connection.ops.adapt_datetimefield_value(at))
    source = rows_source(MOVE_COLUMNS, moves)
    customers, changes = Customer._meta.db_table, StageChange._meta.db_table
    statements = [
        sql(
            f"UPDATE {customers} SET stage = v.to_stage, stage_changed_at = ", moment,
            ", updated_at = ", moment, " FROM ", source, f" WHERE {customers}.id = v.id",
        ),
        sql(
            f"INSERT INTO {changes} (customer_id, from_stage, to_stage, changed_at, cause) ",
            "SELECT v.id, v.from_stage, v.to_stage, ", moment, ", v.cause FROM ", source,
        ),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        for statement, params in statements:
            cursor.execute(statement, params)
