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
