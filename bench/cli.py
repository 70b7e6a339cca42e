"""What every scenario's command line shares, so ``python -m bench`` can drive them alike.

Each scenario is a module that runs alone (``python -m bench.webhooks …``)
and, as a child of ``python -m bench``, in a process and database of its own.
The contract: ``--server-url`` and ``--database`` say where; the output ends
with the result as one JSON line; the exit status is 0 when every
correctness check passed (a missed performance target is a figure, not a
failure).
"""

import argparse
import json
import os
from collections.abc import Callable
from typing import Any


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number (``1,000`` and ``1_000`` too) of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


#: An argparse type: a whole number of at least 1.
positive = at_least(1)


def server_url_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server, no database (BENCH_POSTGRES_URL, else postgres@127.0.0.1:5432)",
    )


def where_arguments(parser: argparse.ArgumentParser, *, database: str) -> None:
    server_url_argument(parser)
    parser.add_argument("--database", default=database, help=f"dropped and recreated ({database})")


def finish(result: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> int:
    """Print the scenario's report, then its result as the last line; the exit status."""
    report(result)
    print(json.dumps(result), flush=True)
    return 0 if result["complete"] else 1
