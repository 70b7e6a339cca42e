"""CSS inlined into a template once, and the proof that it equals inlining each email.

:mod:`.composed` hands over a template taken apart into literal text and
Jinja tags. Here the tags become placeholders — statements (``{% if %}``,
``{% for %}`` …) HTML comments, which an HTML parser leaves in place even
between table rows; expressions private-use characters, which it treats as
text, inside an element or an attribute value — and css-inline inlines the
document once. The result is trusted only when:

1. every placeholder came back exactly once and in order, statements as whole
   comments, expressions in text or in an attribute value other than
   ``class``, ``id``, ``style`` and ``data-ladder-notrack``, and the body's
   elements closed between its start and end (it cannot close the layout's);
2. no CSS selector can match differently from one email to the next: none
   with ``+``, ``~``, ``:nth-…``, ``:first-…``, ``:last-…``, ``:only-…``,
   ``:empty``, ``:has()``, ``:lang()``, ``:dir()`` or escapes, nor an
   attribute selector naming an attribute that holds a ``{{ … }}``;
3. every way a block can render gives, inlined, what the same edit gives on
   the inlined template: each branch of an ``if`` alone (and none, without
   ``else``), a ``for`` body zero, one and two times, and all expressions
   empty, then blank. A table row a loop repeats, a ``<style>`` inside an
   ``if``, a tag closed in another branch, text the parser moves out of a
   table: each shows up as a difference.

"Inlining each email" means exactly what the per-email path does: the body
read as a fragment and written out again, then the page inlined. The
``<tbody>`` a parser adds around table rows is left out of the result: at
the first row of a loop it would open again with every row, and each email's
parser adds it back where inlining that email would have.
"""

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from selectolax.lexbor import LexborHTMLParser

from . import layout, links
from .errors import RenderFailed

# Private-use characters, which no parser or inliner touches. An expression's
# placeholder holds a space, so that one in an unquoted attribute splits it.
_OPEN, _CLOSE = "\ue000", "\ue001"
#: An expression's placeholder, with the tag's index.
EXPRESSION = re.compile(f"{_OPEN}(\\d+) {_CLOSE}")
#: The text of a statement's placeholder comment, with the tag's index.
STATEMENT = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
# A {{ … }} right after these would, rendered, join them into a tag or an entity.
_JOINS_MARKUP = re.compile(r"(?:<[!/?]?-{0,2}|&#?[0-9A-Za-z]*)\Z")
# Elements whose content is not parsed as HTML, or that css-inline handles apart.
_UNSUPPORTED_ELEMENTS = re.compile(r"<(?:link|svg|math|template|plaintext)\b", re.IGNORECASE)
_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
_CSS_PRELUDE = re.compile(r"([^{}]*)\{")
#: Selector syntax whose match depends on siblings, emptiness or language.
_POSITIONAL_SELECTOR = re.compile(
    r"[+~\\]|:(?:nth-|first-|last-|only-|empty|has\(|lang\(|dir\()", re.IGNORECASE
)
_ATTRIBUTE_SELECTOR = re.compile(r"\[\s*(?:[^\]|=~^$*\s]*\|)?([^\]|=~^$*\s]+)")
#: Attributes whose value selectors read, or that are removed: no {{ … }} there.
_FIXED_ATTRIBUTES = frozenset({"class", "id", "style", links.NOTRACK_ATTRIBUTE})
# css-inline's output is html5ever's serialization: one shape per kind of token,
# attributes always double-quoted, "<" in text always escaped.
_SERIALIZED = re.compile(
    r"<!--(?P<comment>.*?)-->"
    r"|(?P<doctype><!DOCTYPE html>)"
    r"|</(?P<end>[a-zA-Z][^\s/>]*)>"
    r"|<(?P<start>[a-zA-Z][^\s/>]*)(?P<attributes>(?: [^\s\"'>/=]+=\"[^\"]*\")*)>"
    r"|(?P<text>[^<]+)",
    re.DOTALL,
)
_SERIALIZED_ATTRIBUTE = re.compile(r' ([^\s"\'>/=]+)="([^"]*)"')
_RAW_TEXT_ELEMENTS = frozenset(
    {"style", "script", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext"}
)
_VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    | {"track", "wbr"}
)
#: Characters css-inline may inline to compose one template (the template once
#: per variant the check tries): at most about half a second, once per process.
#: A template with more branches than that is rendered the per-email way.
MAX_INLINED_CHARS = 5_000_000
#: The keywords of the statements that mark where the body starts and ends.
BODY_START, BODY_END = "body start", "body end"


class TagLike(Protocol):
    statement: bool
    keyword: str | None


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of css-inline's output."""

    kind: str  # comment, doctype, start, end, text, raw
    text: str
    #: A comment's text, or an element's name.
    name: str = ""
    attributes: tuple[tuple[str, str], ...] = ()


def inlined_template(pieces: list) -> list[Token] | None:
    """The template, CSS inlined, as tokens with placeholders; None if not faithful.

    ``pieces`` are literal text and tags (with ``statement`` and ``keyword``);
    the placeholders in the tokens carry each tag's index among the tags.
    """
    tags = [piece for piece in pieces if not isinstance(piece, str)]
    document = _placeholder_document(pieces)
    blocks = _blocks(tags)
    if document is None or blocks is None:
        return None
    keywords = [tag.keyword for tag in tags]
    body = (keywords.index(BODY_START), keywords.index(BODY_END))
    sent = functools.partial(_as_sent, body=body)
    try:
        inlined = sent(document)
        tokens = list(_serialized_tokens(inlined))
    except (RenderFailed, ValueError):
        return None
    contexts = _placeholder_contexts(tokens, len(tags), body)
    if contexts is None or not _css_is_static(document, contexts):
        return None
    if not _variants_agree(document, inlined, blocks, contexts, sent):
        return None
    return tokens


def _placeholder_document(pieces: list) -> str | None:
    """The template as HTML, each tag swapped for a placeholder."""
    parts, index, before = [], 0, ""
    for piece in pieces:
        if isinstance(piece, str):
            if _OPEN in piece or _CLOSE in piece:
                return None
            parts.append(piece)
            before = piece
            continue
        if not piece.statement and _JOINS_MARKUP.search(before):
            return None
        parts.append(_marker(index) if piece.statement else f"{_OPEN}{index} {_CLOSE}")
        index += 1
    document = "".join(parts)
    return None if _UNSUPPORTED_ELEMENTS.search(document) else document


def _marker(index: int) -> str:
    return f"<!--{_OPEN}{index}{_CLOSE}-->"


@dataclass(frozen=True, slots=True)
class _Block:
    """An ``if`` or ``for`` block: the indexes of its tags, ``if`` to ``endif``."""

    loop: bool
    markers: tuple[int, ...]
    has_else: bool


def _blocks(tags: list[TagLike]) -> list[_Block] | None:
    blocks: list[_Block] = []
    stack: list[tuple[str, list[int], bool]] = []
    for index, tag in enumerate(tags):
        if tag.keyword in ("if", "for", "with"):
            stack.append((tag.keyword, [index], False))
        elif tag.keyword in ("elif", "else") and stack:
            keyword, markers, has_else = stack[-1]
            stack[-1] = (keyword, [*markers, index], has_else or tag.keyword == "else")
        elif tag.keyword in ("endif", "endfor", "endwith") and stack:
            keyword, markers, has_else = stack.pop()
            if keyword != "with":
                blocks.append(_Block(keyword == "for", (*markers, index), has_else))
    return None if stack else blocks


def _as_sent(document: str, body: tuple[int, int]) -> str:
    """What the per-email path makes of a rendered document, with the tbody left out.

    It reads the body as a fragment and writes it out again
    (:func:`.links.check_and_track`), which drops what has no place in a
    fragment (``<body>``, ``<html>`` …), then inlines the whole page.
    """
    start = document.index(_marker(body[0])) + len(_marker(body[0]))
    end = document.index(_marker(body[1]))
    fragment = LexborHTMLParser(document[start:end], is_fragment=True).html or ""
    inlined = layout.inline_css(document[:start] + fragment + document[end:])
    if "tbody" not in document.lower():
        inlined = inlined.replace("<tbody>", "").replace("</tbody>", "")
    return inlined


# --- Reading css-inline's output -----------------------------------------------------------


def _serialized_tokens(serialized: str) -> Iterator[Token]:
    """css-inline's output, token by token; ValueError where it is not as expected."""
    position = 0
    while position < len(serialized):
        match = _SERIALIZED.match(serialized, position)
        if match is None:
            raise ValueError(f"unexpected markup at {position}")
        position = match.end()
        if match["comment"] is not None:
            yield Token("comment", match[0], match["comment"])
        elif match["doctype"] is not None:
            yield Token("doctype", match[0])
        elif match["end"] is not None:
            yield Token("end", match[0], match["end"])
        elif match["text"] is not None:
            yield Token("text", match[0])
        else:
            name = match["start"]
            attributes = tuple(_SERIALIZED_ATTRIBUTE.findall(match["attributes"]))
            yield Token("start", match[0], name, attributes)
            if name in _RAW_TEXT_ELEMENTS:
                end = serialized.find(f"</{name}>", position)
                if end < 0:
                    raise ValueError(f"<{name}> is not closed")
                yield Token("raw", serialized[position:end])
                position = end


@dataclass(frozen=True, slots=True)
class _Contexts:
    #: Indexes of the expressions that are text (the others are in attributes).
    text: frozenset[int]
    #: Names of the attributes holding an expression.
    attributes: frozenset[str]


def _expressions(text: str) -> list[int] | None:
    """The expressions in a text or attribute value; None if a placeholder is broken."""
    rest = EXPRESSION.sub("", text)
    if _OPEN in rest or _CLOSE in rest:
        return None
    return [int(number) for number in EXPRESSION.findall(text)]


def _placeholder_contexts(
    tokens: list[Token], count: int, body: tuple[int, int]
) -> _Contexts | None:
    """Where each placeholder came back, if every one did once, in order, in a safe place."""
    found: list[int] = []
    text: set[int] = set()
    attributes: set[str] = set()
    depth = None  # of the body's elements, while inside the body
    for token in tokens:
        if depth is not None:
            depth += token.kind == "start" and token.name not in _VOID_ELEMENTS
            depth -= token.kind == "end"
            if depth < 0:
                return None
        if token.kind == "comment" and (match := STATEMENT.fullmatch(token.name)):
            found.append(int(match[1]))
            if found[-1] in body:
                if found[-1] == body[1] and depth != 0:
                    return None
                depth = 0 if found[-1] == body[0] else None
        elif token.kind == "text":
            indexes = _expressions(token.text)
            if indexes is None:
                return None
            found += indexes
            text.update(indexes)
        elif token.kind == "start":
            if _OPEN in token.name or _CLOSE in token.name:
                return None
            for name, value in token.attributes:
                indexes = _expressions(value)
                if indexes is None or _OPEN in name or _CLOSE in name:
                    return None
                if indexes and (name in _FIXED_ATTRIBUTES or token.name in ("link", "base")):
                    return None
                if indexes:
                    attributes.add(name)
                found += indexes
        elif _OPEN in token.text or _CLOSE in token.text:
            return None  # in a comment, a raw-text element, the doctype
    if found != list(range(count)):
        return None
    return _Contexts(frozenset(text), frozenset(attributes))


def _css_is_static(document: str, contexts: _Contexts) -> bool:
    """Does the document's CSS match the same elements whatever an email's values?"""
    styles = _STYLE_ELEMENT.findall(document)
    if len(styles) != document.lower().count("<style"):
        return False
    css = _CSS_STRING.sub('""', _CSS_COMMENT.sub("", "\n".join(styles)))
    for prelude in _CSS_PRELUDE.findall(css):
        if _POSITIONAL_SELECTOR.search(prelude):
            return False
        selected = {name.lower() for name in _ATTRIBUTE_SELECTOR.findall(prelude)}
        if selected & contexts.attributes:
            return False
    return True


# --- Variants -------------------------------------------------------------------------


def _with_sections(document: str, markers: tuple[int, ...], times: list[int]) -> str:
    """``document`` with the text between consecutive markers repeated ``times[i]`` times."""
    starts = [document.index(_marker(index)) for index in markers]
    ends = [start + len(_marker(index)) for start, index in zip(starts, markers, strict=True)]
    parts = [document[: ends[0]]]
    for section, repeat in enumerate(times):
        parts.append(document[ends[section] : starts[section + 1]] * repeat)
        parts.append(_marker(markers[section + 1]))
    parts.append(document[ends[-1] :])
    return "".join(parts)


def _choices(block: _Block) -> list[list[int]]:
    """How many times each section of a block renders, in each case the check tries."""
    sections = len(block.markers) - 1
    if block.loop:  # the body zero, one or two times; the else only after zero
        return [[0, 1][:sections], [1, 0][:sections], [2, 0][:sections]]
    choices = [[int(kept == section) for section in range(sections)] for kept in range(sections)]
    if not block.has_else:
        choices.append([0] * sections)
    return choices


def _blanked(text: str, expressions: frozenset[int], blank: str) -> str:
    """``text`` with the placeholders of these expressions replaced by ``blank``."""
    return EXPRESSION.sub(lambda match: blank if int(match[1]) in expressions else match[0], text)


def _variants_agree(
    document: str,
    inlined: str,
    blocks: list[_Block],
    contexts: _Contexts,
    sent: Callable[[str], str],
) -> bool:
    """Does inlining each rendering give what rendering the inlined template gives?"""
    variants: list[Callable[[str], str]] = [
        functools.partial(_with_sections, markers=block.markers, times=times)
        for block in blocks
        for times in _choices(block)
    ]
    variants += [
        functools.partial(_blanked, expressions=contexts.text, blank=blank) for blank in ("", " ")
    ]
    if len(variants) * len(document) > MAX_INLINED_CHARS:
        return False
    for variant in variants:
        try:
            if sent(variant(document)) != variant(inlined):
                return False
        except (RenderFailed, ValueError):
            return False
    return True
