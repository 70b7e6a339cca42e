"""Figures on the report pages, written as ``ab_report``'s text writes them."""

from django import template

from campaigns.analysis import figures
from customers.models import Stage

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    return figures.percent(value)


@register.filter
def lift(value: float | None) -> str:
    return figures.percent(value, signed=True)


@register.filter
def pvalue(value: float | None) -> str:
    return figures.number(value)


@register.filter
def money(revenue: dict) -> str:
    return figures.money(revenue)


@register.filter
def days(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


@register.filter
def stage_label(value: str) -> str:
    """A stage's name; "" (where a new customer comes from) is "(new)"."""
    return Stage(value).label if value else "(new)"


@register.simple_tag
def interval(low: float | None, high: float | None, signed: bool = False) -> str:
    return figures.interval(low, high, signed=signed)


@register.filter
def thousands(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


@register.filter
def compact(value: float) -> str:
    """A weight as the text report writes it: 50, not 50.0."""
    return f"{value:g}"
