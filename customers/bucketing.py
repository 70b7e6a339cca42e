"""Deterministic assignment of customers to A/B buckets.

A customer's bucket is a stable hash of (experiment key, customer id), so
re-runs, retries and other workers always agree, and two experiments are
independent of each other. Used by journey splits and message variants alike.
"""

import hashlib
from collections.abc import Sequence


def bucket(experiment: str, customer_id: int) -> float:
    """A number in [0, 100) that never changes for this experiment and customer."""
    digest = hashlib.sha256(f"{experiment}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def pick(experiment: str, customer_id: int, weights: Sequence[tuple[str, float]]) -> str:
    """The name whose share of [0, total) the customer's bucket falls in."""
    total = sum(weight for _, weight in weights)
    point = bucket(experiment, customer_id) / 100 * total
    for name, weight in weights:
        if point < weight:
            return name
        point -= weight
    return weights[-1][0]
