"""How much work one marketer-written template may do, and the budget that enforces it.

Templates run inside delivery workers. Jinja's sandbox keeps them away from
Python internals, but not from asking for a billion loop turns or a gigabyte
string. These limits do, checked at points a template cannot avoid: every loop
turn, call, operator, filter, concatenation, literal and output chunk. They are
checked in the rendering thread itself, because Celery's prefork workers leave
no room for signal alarms or watchdog threads.

Anything that makes a value much larger than its inputs in one step (``*``,
``**``, ``%`` widths, ``center``, ``replace``, ``join`` …) is refused *before*
it runs; everything else is measured after, which bounds growth to a small
factor of :data:`MAX_VALUE_SIZE` per step.
"""

import functools
import re
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from string import Formatter
from typing import Any

from jinja2.utils import Namespace

from .errors import RenderFailed

#: Characters one rendered part may have. Gmail clips an email at ~102 KB;
#: ten times that is a template gone wrong, not a long newsletter.
MAX_OUTPUT_CHARS = 1_000_000
#: Size of any one value a template builds: characters of a string, or items of
#: a list or dict counted through every level of nesting (so ``[l, l]`` of a
#: shared ``l`` counts it twice, as printing it would).
MAX_VALUE_SIZE = 100_000
#: Characters of output all ``{{ … }}`` expressions of one email may produce,
#: counting text built in macros and ``{% set %}``/``{% filter %}`` blocks
#: before it is used: bounds memory where output is buffered, not streamed.
MAX_PRODUCED_CHARS = 10 * MAX_OUTPUT_CHARS
#: Items one ``range()`` may produce.
MAX_RANGE = 10_000
#: Loop turns in one email, all loops of all parts together.
MAX_LOOP_ITERATIONS = 100_000
#: Wall-clock seconds one email may spend rendering; a normal one needs well
#: under a millisecond.
MAX_RENDER_SECONDS = 0.5
#: Why an email that ran out of time failed.
TIME_LIMIT_REASON = f"rendering took longer than {MAX_RENDER_SECONDS} s"
#: Bits of an integer that ``*`` and ``**`` may produce (1024 bits: 308 digits).
#: Big-integer arithmetic is one uninterruptible step, so it is capped up front.
MAX_INT_BITS = 1024
#: Characters of one template source; bounds compile time.
MAX_TEMPLATE_CHARS = 200_000
#: Characters of the rendered subject line, after line breaks are removed.
MAX_SUBJECT_CHARS = 250
#: Characters of the rendered preheader (preview text).
MAX_PREHEADER_CHARS = 250


class Budget:
    """The time and loop turns left to the email being rendered."""

    __slots__ = ("deadline", "output_left", "turns_left")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.turns_left = MAX_LOOP_ITERATIONS
        self.output_left = MAX_PRODUCED_CHARS

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderFailed(TIME_LIMIT_REASON)

    def turn(self) -> None:
        self.turns_left -= 1
        if self.turns_left < 0:
            raise RenderFailed(f"loops ran more than {MAX_LOOP_ITERATIONS:,} times")
        self.check_time()

    def produce(self, characters: int) -> None:
        self.output_left -= characters
        if self.output_left < 0:
            raise RenderFailed(f"the template produced more than {MAX_PRODUCED_CHARS:,} characters")


# A context variable rather than an argument: the hooks that spend the budget
# are called by Jinja's generated code, which has no way to pass one along.
_current: ContextVar[Budget] = ContextVar("ladder_render_budget")


@contextmanager
def budget():
    """Give everything rendered inside the block one shared budget."""
    token = _current.set(Budget())
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Budget:
    return _current.get()


def guarded_iteration(iterable: Any):
    """Iterate, spending one loop turn (and checking the clock) per item."""
    spend = current().turn
    for item in iterable:
        spend()
        yield item


def checked_range(*args: int) -> range:
    """``range()`` for templates, refused past :data:`MAX_RANGE` items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise RenderFailed(f"range() of {len(result):,} items is over the limit of {MAX_RANGE:,}")
    return result


# --- Sizes -------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, Mapping, Namespace)


def size_of(value: Any) -> int:
    """Characters of a string; items of a container, through nesting; 1 otherwise.

    Stops counting just past the limit, so measuring stays cheap however large
    the value claims to be.
    """
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, _CONTAINERS):
        return _container_size(value, {})
    return 1


def _container_size(value: Any, seen: dict[int, int]) -> int:
    key = id(value)
    if key in seen:
        return seen[key]
    seen[key] = 1  # a container that contains itself counts once
    if isinstance(value, Mapping):
        children = [part for pair in value.items() for part in pair]
    elif isinstance(value, Namespace):
        children = list(value._Namespace__attrs.values())
    else:
        children = value
    total = 1
    for child in children:
        if isinstance(child, str | bytes):
            total += len(child)
        elif isinstance(child, _CONTAINERS):
            total += _container_size(child, seen)
        else:
            total += 1
        if total > MAX_VALUE_SIZE:
            break
    seen[key] = total
    return total


def check_size(value: Any) -> Any:
    """Return ``value``, or fail the render if it is larger than :data:`MAX_VALUE_SIZE`."""
    check_size_estimate(size_of(value))
    return value


def check_size_estimate(characters: int) -> None:
    """Fail the render before building a string of ``characters`` past the limit."""
    if characters > MAX_VALUE_SIZE:
        raise RenderFailed(f"a value grew past the limit of {MAX_VALUE_SIZE:,} characters or items")


def _refuse_estimate(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE_SIZE:
        raise RenderFailed(
            f"{what} would make a value of about {estimate:,} characters;"
            f" the limit is {MAX_VALUE_SIZE:,}"
        )


def _refuse_number(number: Any, what: str) -> None:
    if isinstance(number, int) and number > MAX_VALUE_SIZE:
        raise RenderFailed(f"{what} of {number:,} is over the limit of {MAX_VALUE_SIZE:,}")


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes) else len(str(value))


# --- Format strings ------------------------------------------------------------

# One printf-style field: %, optional (key), flags, width, .precision.
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?")
_DIGITS = re.compile(r"\d+")


@functools.lru_cache(maxsize=1024)  # templates use a few format strings, many times
def check_percent_format(template: str | bytes) -> None:
    """Refuse ``'%999999999d' % x``: a width or precision is an allocation size."""
    if isinstance(template, bytes):
        template = template.decode("latin-1")
    for field in _PERCENT_FIELD.findall(template):
        for number in field:
            if number == "*":
                raise RenderFailed("'*' widths in % formatting are not allowed")
            if number and (len(number) > 9 or int(number) > MAX_VALUE_SIZE):
                raise RenderFailed(f"a format width of {number} is over the limit")


def check_brace_format(template: str) -> None:
    """Refuse ``'{:>999999999}'.format(x)`` and widths taken from arguments."""
    for _literal, _field, spec, _conversion in Formatter().parse(template):
        if not spec:
            continue
        if "{" in spec:
            raise RenderFailed("format widths taken from arguments are not allowed")
        for number in _DIGITS.findall(spec):
            if len(number) > 9 or int(number) > MAX_VALUE_SIZE:
                raise RenderFailed(f"a format width of {number} is over the limit")


# --- Operators -------------------------------------------------------------------


def _multiply(left: Any, right: Any) -> Any:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(sequence, str | bytes | list | tuple):
            _refuse_estimate(size_of(sequence) * times, "this multiplication")
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS
    ):
        raise RenderFailed(f"this multiplication makes a number over {MAX_INT_BITS} bits")
    return left * right


def _power(base: Any, exponent: Any) -> Any:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and base.bit_length() * exponent > MAX_INT_BITS
    ):
        raise RenderFailed(f"this power makes a number over {MAX_INT_BITS} bits")
    return base**exponent


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        check_percent_format(left)
    return left % right


#: The operators Jinja's sandbox hands to ``call_binop``, and how each is done
#: safely. ``+`` needs no pre-check: it at most doubles, and the result is measured.
BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "*": _multiply,
    "**": _power,
    "%": _modulo,
    "+": lambda left, right: left + right,
}


# --- Methods of strings --------------------------------------------------------------


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _limit_width(text: Any, args: tuple, kwargs: dict) -> tuple:
    _refuse_number(_arg(args, kwargs, 0, "width"), "a width")
    return args, kwargs


def _limit_expandtabs(text: Any, args: tuple, kwargs: dict) -> tuple:
    tabsize = _arg(args, kwargs, 0, "tabsize", 8)
    if isinstance(tabsize, int):
        tabs = text.count("\t" if isinstance(text, str) else b"\t")
        _refuse_estimate(len(text) + tabs * tabsize, "expandtabs()")
    return args, kwargs


def _replacement_estimate(text: Any, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return 0
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _limit_replace(text: Any, args: tuple, kwargs: dict) -> tuple:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    count = _arg(args, kwargs, 2, "count", -1)
    if isinstance(text, str | bytes):
        _refuse_estimate(_replacement_estimate(text, old, new, count), "replace()")
    return args, kwargs


def _limit_join(separator: Any, args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args, kwargs
    items = list(args[0])
    estimate = sum(_length(item) for item in items) + len(separator) * max(len(items) - 1, 0)
    _refuse_estimate(estimate, "join()")
    return (items, *args[1:]), kwargs


def _limit_translate(text: Any, args: tuple, kwargs: dict) -> tuple:
    table = _arg(args, kwargs, 0, "table")
    if isinstance(table, Mapping):
        longest = max((_length(value) for value in table.values() if value), default=1)
        _refuse_estimate(len(text) * longest, "translate()")
    return args, kwargs


def _limit_format(template: Any, args: tuple, kwargs: dict) -> tuple:
    check_brace_format(template)
    return args, kwargs


#: Methods of ``str`` and ``bytes`` whose result can be far larger than their
#: inputs, and the check that runs before each.
STRING_METHOD_LIMITS: dict[str, Callable[[Any, tuple, dict], tuple]] = {
    "center": _limit_width,
    "ljust": _limit_width,
    "rjust": _limit_width,
    "zfill": _limit_width,
    "expandtabs": _limit_expandtabs,
    "replace": _limit_replace,
    "join": _limit_join,
    "translate": _limit_translate,
    "format": _limit_format,
    "format_map": _limit_format,
}


# --- Filters --------------------------------------------------------------------------
# Each check gets the filter's arguments without the context/environment that
# some filters take first; args[0] is the filtered value.


def _limit_center_filter(args: tuple, kwargs: dict) -> tuple:
    _refuse_number(_arg(args, kwargs, 1, "width", 80), "a width")
    return args, kwargs


def _limit_indent_filter(args: tuple, kwargs: dict) -> tuple:
    text, width = str(args[0]) if args else "", _arg(args, kwargs, 1, "width", 4)
    per_line = width if isinstance(width, int) else _length(width)
    _refuse_estimate(len(text) + (text.count("\n") + 1) * per_line, "indent")
    return args, kwargs


def _limit_replace_filter(args: tuple, kwargs: dict) -> tuple:
    text = str(args[0]) if args else ""
    old, new = _arg(args, kwargs, 1, "old"), _arg(args, kwargs, 2, "new")
    estimate = _replacement_estimate(text, str(old), str(new), _arg(args, kwargs, 3, "count"))
    _refuse_estimate(estimate, "replace")
    return args, kwargs


def _limit_format_filter(args: tuple, kwargs: dict) -> tuple:
    if args and isinstance(args[0], str):
        check_percent_format(args[0])
    return args, kwargs


def _limit_wordwrap_filter(args: tuple, kwargs: dict) -> tuple:
    text, wrapstring = str(args[0]) if args else "", _arg(args, kwargs, 3, "wrapstring")
    if wrapstring is not None:
        _refuse_estimate(len(text) * (1 + _length(wrapstring)), "wordwrap")
    return args, kwargs


def _limit_join_filter(args: tuple, kwargs: dict) -> tuple:
    if not args:
        return args, kwargs
    items = list(args[0])
    separator = _arg(args, kwargs, 1, "d", "")
    estimate = sum(_length(item) for item in items) + _length(separator) * max(len(items) - 1, 0)
    _refuse_estimate(estimate, "join")
    return (items, *args[1:]), kwargs


def _limit_count_argument(index: int, name: str) -> Callable[[tuple, dict], tuple]:
    def limit(args: tuple, kwargs: dict) -> tuple:
        _refuse_number(_arg(args, kwargs, index, name), name)
        return args, kwargs

    return limit


def _limit_urlize_filter(args: tuple, kwargs: dict) -> tuple:
    for index, name in ((3, "target"), (4, "rel")):
        value = _arg(args, kwargs, index, name)
        if value is not None and _length(value) > 100:
            raise RenderFailed(f"urlize {name} is longer than 100 characters")
    return args, kwargs


def _limit_sum_filter(args: tuple, kwargs: dict) -> tuple:
    # sum() of lists or strings copies its growing result once per item: quadratic.
    start = _arg(args, kwargs, 2, "start", 0)
    if isinstance(start, str | bytes | list | tuple):
        raise RenderFailed("sum works on numbers only")
    return args, kwargs


#: Filters whose result can be far larger than their input (or take far longer
#: than its size suggests), and the check that runs before each.
FILTER_LIMITS: dict[str, Callable[[tuple, dict], tuple]] = {
    "center": _limit_center_filter,
    "indent": _limit_indent_filter,
    "replace": _limit_replace_filter,
    "format": _limit_format_filter,
    "wordwrap": _limit_wordwrap_filter,
    "join": _limit_join_filter,
    "batch": _limit_count_argument(1, "linecount"),
    "slice": _limit_count_argument(1, "slices"),
    "tojson": _limit_count_argument(1, "indent"),
    "urlize": _limit_urlize_filter,
    "sum": _limit_sum_filter,
}
