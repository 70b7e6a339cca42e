"""How figures read, in the text report and on the admin's report pages alike.

Apart from :mod:`.formats` because the pages' template tags need only these,
and formats brings the statistics (scipy) with the results it writes out:
every process that loads Django's template tags, a Celery worker running its
start-up checks or a web process showing the unsubscribe page, would load
them too.
"""

from decimal import Decimal


def percent(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1%}" if signed else f"{value:.2%}"


def interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    if low is None or high is None:
        return "n/a"
    return f"[{percent(low, signed=signed)}, {percent(high, signed=signed)}]"


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def money(revenue: dict[str, Decimal]) -> str:
    amounts = [f"{value:,.2f} {currency}" for currency, value in sorted(revenue.items())]
    return ", ".join(amounts) or "n/a"
