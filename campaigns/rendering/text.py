"""The text part of an email, made from its HTML when the marketer wrote none.

html2text does the conversion, with links kept as ``[label](url)``. It is too
slow to run on every email (about 3 ms for 5 KB), so it runs once per template
instead: the Jinja tags of the HTML template are swapped for placeholders that
html2text passes through untouched, the rest is converted, and the tags are put
back. The result is a text *template*, compiled and cached like any other, so
each email costs one small render.

When the text template has the body's statements, as the one made here always
has, the composed HTML render makes the text part as it goes, printing the
values it has just worked out rather than working them out again (see
composed.py).

The conversion is only done when it is faithful. It is given up, and html2text
runs on each rendered email instead, when the template pulls HTML
from elsewhere (``include``, ``import``, ``extends``, ``|safe``, autoescape
blocks), or when a statement tag (``{% if %}``, ``{% for %}`` …) did not come
through once and in order, e.g. because it sat inside an HTML attribute. An
expression may vanish (one inside ``class="…"`` has no place in text) but
never repeat or move past a statement.
"""

import bisect
import functools
import re

import html2text
from jinja2 import TemplateSyntaxError, nodes

from .environment import TEMPLATE_CACHE_SIZE, environment

# Private-use characters: html2text neither escapes nor drops them.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
#: Tokens that start a statement: a tag html2text must not lose or reorder.
_STATEMENT_TOKENS = frozenset({"block_begin", "raw_begin", "raw_end"})
#: Template nodes that bring in HTML the text conversion never sees.
_HTML_FROM_ELSEWHERE = (
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.EvalContextModifier,
)


def _converter() -> html2text.HTML2Text:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # mail clients wrap; hard breaks look broken on phones
    converter.ignore_emphasis = True  # no *stars* and _underscores_ around words
    converter.ignore_tables = True  # email tables are layout, not data
    converter.images_to_alt = True  # an image becomes its alt text
    converter.unicode_snob = True  # keep “quotes” and accents as written
    return converter


def tidy(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, no blank edges."""
    text = "\n".join([line.rstrip() for line in text.split("\n")])
    # Many times faster than re.sub(r"\n{3,}", …), which Python's regex engine
    # tries at every position; each pass shortens every run by a third.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


def html_to_text(html: str) -> str:
    """Convert rendered HTML to text (the slow path, once per email)."""
    return tidy(_converter().handle(html))


def _tag_spans(source: str) -> list[tuple[int, int, bool]] | None:
    """(start, end, is_statement) of each run of Jinja syntax, from the lexer.

    The lexer strips whitespace next to ``{%-`` and ``-%}`` from the data it
    yields; that whitespace is counted as part of the tag, which is where Jinja
    would remove it from anyway.
    """
    lexer = environment(strict=False).lexer
    spans = []
    position, run_start, statement = 0, None, False
    for _line, token, value in lexer.tokeniter(source, None):
        start = source.find(value, position)
        if start < 0 or source[position:start].strip():
            return None
        if token == "data":
            if run_start is not None:
                spans.append((run_start, start, statement))
                run_start, statement = None, False
        else:
            if run_start is None:
                run_start = position
            statement = statement or token in _STATEMENT_TOKENS
        position = start + len(value)
    if run_start is not None:
        spans.append((run_start, len(source), statement))
    return spans


def _faithful(found: list[int], statements: list[int]) -> bool:
    """Did the tags come through the conversion without changing what the template does?

    Every statement exactly once and in order; every expression at most once,
    and still between the same two statements (html2text writes a link's label
    before its URL, so expressions may swap places among themselves).
    """
    if len(found) != len(set(found)):
        return False
    statements_seen = 0
    for index in found:
        if bisect.bisect_left(statements, index) != statements_seen:
            return False
        if statements_seen < len(statements) and statements[statements_seen] == index:
            statements_seen += 1
    return statements_seen == len(statements)


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def text_template_from_html(source: str) -> str | None:
    """A text template equivalent to converting each rendering of ``source``, or None."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    env = environment(strict=False)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return None
    if any(tree.find_all(_HTML_FROM_ELSEWHERE)) or any(
        node.name == "safe" for node in tree.find_all(nodes.Filter)
    ):
        return None
    spans = _tag_spans(source)
    if spans is None:
        return None

    pieces, tags, statements, position = [], [], [], 0
    for index, (start, end, statement) in enumerate(spans):
        pieces += [source[position:start], f"{_OPEN}{index}{_CLOSE}"]
        tags.append(source[start:end])
        if statement:
            statements.append(index)
        position = end
    pieces.append(source[position:])
    converted = _converter().handle("".join(pieces))

    if not _faithful([int(number) for number in _PLACEHOLDER.findall(converted)], statements):
        return None
    result = _PLACEHOLDER.sub(lambda match: tags[int(match.group(1))], converted)
    try:
        env.parse(result)
    except TemplateSyntaxError:
        return None
    return result
