"""Layout and body in one template: CSS inlined, links found and text made once per template.

Rendering an email the plain way takes, per email: a render of the body, an
HTML parse to check and track its links, a render of the layout around it,
another parse to inline the CSS, and renders of the text part and its layout.
The parses cost more than all the rendering. A *composed* template does them
once per template: it is the HTML layout with the body in place of
``{{ content }}``, its CSS already inlined (:mod:`.inlining`), and each URL
attribute of the body a call that checks and tracks the value as the email
renders (:mod:`.hooks`). When the text part has the body's statements — the
one made from the HTML always has — the same render makes it too, printing
each value it shares with the HTML instead of working it out again. Otherwise
the text layout and text body are composed into a second template.

Templates are taken apart with Jinja's own lexer, into the literal text Jinja
outputs (whitespace control already applied) and the tags between. They are
put back together as one source, lexed once more to make sure every tag
came back and no text turned into one, and compiled in a *verbatim*
environment, where whitespace control has nothing left to do.

Not composed, and so rendered the per-email way (same output, about three
times the work), are templates that:

- bring in or build HTML the composition never sees: ``include``, ``import``,
  ``extends``, ``macro``, ``call``, ``block``, ``{% set %}…{% endset %}``,
  ``{% filter %}``, ``{% autoescape %}``, ``{% raw %}``, ``|safe``,
  ``|urlize``, ``|xmlattr``; ``<svg>``, ``<math>``, ``<template>``, ``<link>``;
- could read or change the layout's names: a body that uses ``subject``,
  ``preheader``, ``postal_address``, ``open_pixel_url`` or ``content``, that
  sets a name the layout uses, or that uses ``self``, ``caller``,
  ``varargs``, ``kwargs`` or a name starting with ``__ladder``;
- are refused by :mod:`.inlining` (positional CSS selectors, a ``{{ … }}``
  in ``class``/``style``/a tag name/a comment/``<style>``, an ``{% if %}``
  inside a tag, markup a branch or loop would change …);
- have a literal link with a forbidden scheme (the per-email path reports it);
- have a text part that needs each rendered body (see :mod:`.text`).

And one email falls back to the per-email path when a value carries its own
markup (see ``EmailSandbox.escape_composed``), or when its composed render
fails for any reason other than time: the per-email path then reports the
failure with its part and line, exactly as before.
"""

import functools
import html
from dataclasses import dataclass

from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.visitor import NodeTransformer

from . import hooks, inlining, layout, links
from .environment import (
    COMPOSED_HTML,
    COMPOSED_TEXT,
    KEEP_HOOK,
    LINK_HOOK,
    TEMPLATE_CACHE_SIZE,
    TEXT_HOOK,
    environment,
    from_code,
)
from .errors import RenderFailed
from .pieces import Names, Tag, normalized, read_names, take_apart

#: Tags a body may have and be composed. Composing costs about half a
#: millisecond per tag, once per process; real emails have tens of tags.
MAX_TAGS = 1000
#: Names only the layout's frame has; the body's own render never saw them.
FRAME_NAMES = frozenset({"subject", "preheader", "postal_address", "open_pixel_url", "content"})
#: How composed sources call the hooks; rewritten to the hook filters (whose
#: names are no identifiers) before compiling. A template using these names
#: is never composed.
_HOOK_CALLS = {"__ladder_link": LINK_HOOK, "__ladder_text": TEXT_HOOK, "__ladder_keep": KEEP_HOOK}


@dataclass(frozen=True, slots=True)
class _Layout:
    before: list[str | Tag]  # the pieces before {{ content }}
    after: list[str | Tag]
    names: frozenset[str]
    same_in_text: bool


@functools.cache
def _layout(name: str) -> _Layout:
    env = environment(strict=False)
    source = normalized(env.loader.get_source(env, name)[0])
    pieces, names = take_apart(source, "layout"), read_names(source)
    assert pieces is not None and names is not None, f"layout {name} cannot be composed"
    (content,) = (
        index
        for index, piece in enumerate(pieces)
        if isinstance(piece, Tag) and not piece.statement and piece.inner.strip() == "content"
    )
    return _Layout(
        pieces[:content], pieces[content + 1 :], names.read | names.assigned, names.same_in_text
    )


def _body(source: str, part: str, frame: _Layout) -> tuple[list[str | Tag], Names] | None:
    """The body's pieces, if the body cannot see or change anything of the layout's."""
    source = normalized(source)
    pieces = take_apart(source, part)
    if pieces is None or sum(isinstance(piece, Tag) for piece in pieces) > MAX_TAGS:
        return None
    names = read_names(source)
    if names is None or names.read & FRAME_NAMES or names.assigned & frame.names:
        return None
    return pieces, names


# --- Putting templates together -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    """One composed template, and where its lines came from."""

    template: Template
    #: (first line in the composed source, lines, part, line in the part) of each tag.
    origins: tuple[tuple[int, int, str, int], ...]

    def locate(self, line: int | None) -> tuple[str | None, int | None]:
        """The part and line of the template a line of the composed source came from."""
        for first, count, part, part_line in self.origins:
            if line is not None and first <= line <= first + count:
                return part, part_line + line - first
        return None, None


@dataclass(frozen=True, slots=True)
class Composed:
    """An email's templates, composed: the HTML, and the text in it or apart."""

    html: Compiled
    #: The URL attributes of the body, for :class:`.hooks.EmailHooks`.
    links: tuple[hooks.AttributeSpec, ...]
    #: The text part's stretches, when the HTML render makes it, and whether
    #: their values are kept slots.
    texts: tuple[tuple[hooks.TextSpec, bool], ...]
    #: How many values the HTML render keeps for the text part.
    kept: int
    #: The text part's own template, when the HTML render does not make it.
    text: Compiled | None


class _Source:
    """A composed source as it is written: text, tags, and where each tag came from."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.codes: list[str] = []
        self.line = 1
        self.origins: list[tuple[int, int, str, int]] = []

    def text(self, text: str) -> None:
        self.parts.append(text)
        self.line += text.count("\n")

    def tag(self, tag: Tag) -> None:
        self.code(tag.code, [(2, tag)])

    def code(self, code: str, tags: list[tuple[int, Tag]]) -> None:
        """Write a tag; ``code`` holds the inner text of each of ``tags`` at an offset."""
        for offset, tag in tags:
            if tag.line:
                first = self.line + code.count("\n", 0, offset)
                self.origins.append((first, tag.inner.count("\n"), tag.part, tag.line))
        self.parts.append(code)
        self.codes.append(code)
        self.line += code.count("\n")

    def compile(self, name: str) -> Compiled | None:
        source = "".join(self.parts)
        # Lexed again, the source must give back exactly the text and tags
        # written: text never turns into a tag ("&#123;&#123;" inlined is "{{").
        found = take_apart(source, "", verbatim=True)
        if (
            found is None
            or [piece.code for piece in found if isinstance(piece, Tag)] != self.codes
            or "".join(piece if isinstance(piece, str) else piece.code for piece in found) != source
        ):
            return None
        env = environment(strict=False, verbatim=True)
        try:
            tree = _Hooks().visit(env.parse(source, name, name))
            code = env.compile(tree, name, name)
        except TemplateSyntaxError:
            return None
        return Compiled(from_code(env, code), tuple(self.origins))


class _Hooks(NodeTransformer):
    """``__ladder_link(n, …)`` calls become hook filters, which no template can name."""

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        node = self.generic_visit(node)
        if isinstance(node.node, nodes.Name) and node.node.name in _HOOK_CALLS:
            index, *values = node.args
            hook = _HOOK_CALLS[node.node.name]
            return nodes.Filter(index, hook, values, [], None, None, lineno=node.lineno)
        return node


def _hook_call(
    name: str, index: int, values: list[tuple[str, list[tuple[int, Tag]]]]
) -> tuple[str, list[tuple[int, Tag]]]:
    """A hook call: ``values`` are each argument's code, and where tags' inner text sits in it."""
    code, origins = f"{{{{ {name}({index}", []
    for value, value_origins in values:
        code += ", "
        origins += [(len(code) + offset, tag) for offset, tag in value_origins]
        code += value
    return code + ") }}", origins


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def composed(html: str, text: str) -> Composed | None:
    """The composed templates of an email with this HTML body and text template; None if not."""
    frame = _layout(layout.HTML_LAYOUT)
    body = _body(html, "html", frame)
    if body is None:
        return None
    pieces = [
        *frame.before,
        Tag("", True, inlining.BODY_START, "html", 0),
        *body[0],
        Tag("", True, inlining.BODY_END, "html", 0),
        *frame.after,
    ]
    tokens = inlining.inlined_template(pieces)
    if tokens is None:
        return None
    tags = [piece for piece in pieces if isinstance(piece, Tag)]
    shared = _shared_text(tags, text) if body[1].same_in_text else None
    writer = _HtmlWriter(tags, shared)
    compiled = writer.write(tokens)
    if compiled is None:
        return None
    if shared is not None:
        return Composed(
            compiled, tuple(writer.specs), tuple(shared.texts), len(shared.values), None
        )
    text_compiled = _composed_text(text)
    if text_compiled is None:
        return None
    return Composed(compiled, tuple(writer.specs), (), 0, text_compiled)


def _composed_text(body: str) -> Compiled | None:
    """The text layout with ``body`` in place of its ``{{ content }}``, as one template."""
    frame = _layout(layout.TEXT_LAYOUT)
    parsed = _body(body, "text", frame)
    if parsed is None:
        return None
    source = _Source()
    for piece in [*frame.before, *parsed[0], *frame.after]:
        if isinstance(piece, str):
            source.text(piece)
        else:
            source.tag(piece)
    return source.compile(COMPOSED_TEXT)


# --- The text part, made by the HTML render ------------------------------------------------


@dataclass
class _SharedText:
    """How the HTML render makes the text part."""

    #: The slot each HTML expression the text prints too is kept in, by tag index.
    values: dict[int, int]
    #: Code to write before the tag of each index: the text since the last statement.
    before: dict[int, list[tuple[str, list]]]
    #: The text of each hook call, and whether it passes kept slots.
    texts: list[tuple[hooks.TextSpec, bool]]


def _shared_text(tags: list[Tag], text: str) -> _SharedText | None:
    """Plan the text part's hook calls, if its statements are the body's; None if not.

    Each stretch of text between two statements is written into the HTML
    template just before the second one, as one hook call; each value it
    prints is the value the HTML printed in the same stretch, kept by the keep
    hook as it was output. The HTML body must not make values differ between
    the parts (checked by the caller), and each printed expression must
    appear once in the same stretch of the HTML.
    """
    frame = _layout(layout.TEXT_LAYOUT)
    parsed = _body(text, "text", frame)
    if parsed is None or not parsed[1].same_in_text or not frame.same_in_text:
        return None
    start = next(i for i, tag in enumerate(tags) if tag.keyword == inlining.BODY_START)
    end = next(i for i, tag in enumerate(tags) if tag.keyword == inlining.BODY_END)
    boundaries = [start, *(i for i in range(start + 1, end) if tags[i].statement), end]
    text_sections: list[list[str | Tag]] = [[]]
    text_statements = []
    for piece in parsed[0]:
        if isinstance(piece, Tag) and piece.statement:
            text_statements.append(piece.code)
            text_sections.append([])
        else:
            text_sections[-1].append(piece)
    if text_statements != [tags[i].code for i in boundaries[1:-1]]:
        return None

    plan = _SharedText({}, {}, [])
    for section, pieces in enumerate(text_sections):
        html_codes = {
            index: tags[index].code
            for index in range(boundaries[section] + 1, boundaries[section + 1])
            if not tags[index].statement
        }
        values = []
        for piece in pieces:
            if isinstance(piece, Tag):
                matches = [index for index, code in html_codes.items() if code == piece.code]
                if len(matches) != 1 or matches[0] in plan.values:
                    return None
                plan.values[matches[0]] = len(plan.values)
                values.append(plan.values[matches[0]])
        plan.before[boundaries[section + 1]] = _text_calls(plan, pieces, values)
    # The text layout's own text and statements go around the body's.
    plan.before[start] = _layout_text(plan, frame.before)
    plan.before[end] += _layout_text(plan, frame.after)
    return plan


def _text_calls(plan: _SharedText, pieces: list[str | Tag], values: list) -> list[tuple[str, list]]:
    """The hook call adding ``pieces`` to the text part (none if they are empty).

    ``values`` are kept slots (the body's stretches) or (code, tag) pairs (the layout's).
    """
    if not any(isinstance(piece, Tag) or piece for piece in pieces):
        return []
    literals, current = [], []
    for piece in pieces:
        if isinstance(piece, str):
            current.append(piece)
        else:
            literals.append("".join(current))
            current = []
    literals.append("".join(current))
    kept = bool(values) and isinstance(values[0], int)
    plan.texts.append((hooks.TextSpec.of(literals), kept))
    if kept:
        slots = "".join(f", {slot}" for slot in values)
        return [(f"{{{{ __ladder_text({len(plan.texts) - 1}{slots}) }}}}", [])]
    return [_hook_call("__ladder_text", len(plan.texts) - 1, values)]


def _layout_text(plan: _SharedText, pieces: list[str | Tag]) -> list[tuple[str, list]]:
    """The text layout's pieces as code: its statements, and hook calls for its text."""
    codes, run = [], []
    for piece in [*pieces, None]:
        if piece is None or (isinstance(piece, Tag) and piece.statement):
            values = [(f"({item.inner})", [(1, item)]) for item in run if isinstance(item, Tag)]
            codes += _text_calls(plan, run, values)
            run = []
            if piece is not None:
                codes.append((piece.code, [(2, piece)]))
        else:
            run.append(piece)
    return codes


# --- The HTML: tags back in the inlined template, links hooked -----------------------------------


class _HtmlWriter:
    """Writes the composed HTML source from css-inline's output."""

    def __init__(self, tags: list[Tag], shared: _SharedText | None) -> None:
        self.tags = tags
        self.shared = shared
        self.source = _Source()
        self.specs: list[hooks.AttributeSpec] = []

    def write(self, tokens: list[inlining.Token]) -> Compiled | None:
        in_body = False
        for token in tokens:
            match = token.kind == "comment" and inlining.STATEMENT.fullmatch(token.name)
            if match:
                index = int(match[1])
                for code, origins in self.shared.before.get(index, ()) if self.shared else ():
                    self.source.code(code, origins)
                tag = self.tags[index]
                if tag.keyword in (inlining.BODY_START, inlining.BODY_END):
                    in_body = tag.keyword == inlining.BODY_START
                else:
                    self.source.tag(tag)
            elif token.kind == "start" and not in_body and not _literal_links_allowed(token):
                return None  # the layout's own links are checked as they are given
            elif token.kind in ("text", "start") and not (in_body and _has_links(token)):
                self._restore(token.text)
            elif token.kind == "start":
                if not self._start_tag_with_links(token):
                    return None
            else:
                self.source.text(token.text)
        return self.source.compile(COMPOSED_HTML)

    def _value(self, index: int) -> tuple[str, list[tuple[int, Tag]]]:
        """An expression's code (to output or pass on), and where its inner text sits.

        One the text part prints too goes through the keep hook.
        """
        tag = self.tags[index]
        if self.shared is None or index not in self.shared.values:
            return f"({tag.inner})", [(1, tag)]
        return f"__ladder_keep(({tag.inner}), {self.shared.values[index]})", [(15, tag)]

    def _restore(self, text: str) -> None:
        """Write text or a start tag, its placeholders back to expressions."""
        position = 0
        for match in inlining.EXPRESSION.finditer(text):
            self.source.text(text[position : match.start()])
            index = int(match[1])
            if self.shared is None or index not in self.shared.values:
                self.source.tag(self.tags[index])
            else:
                code, origins = self._value(index)
                self.source.code(
                    f"{{{{ {code} }}}}", [(offset + 3, tag) for offset, tag in origins]
                )
            position = match.end()
        self.source.text(text[position:])

    def _start_tag_with_links(self, token: inlining.Token) -> bool:
        """A start tag of the body whose URL attributes are checked and tracked per email."""
        notrack = any(name == links.NOTRACK_ATTRIBUTE for name, _ in token.attributes)
        self.source.text(f"<{token.name}")
        for name, value in token.attributes:
            if name == links.NOTRACK_ATTRIBUTE:
                continue  # removed from the email, as check_and_track does
            if name not in links.URL_ATTRIBUTES:
                self._restore(f' {name}="{value}"')
                continue
            literals = [html.unescape(text) for text in inlining.EXPRESSION.split(value)[::2]]
            indexes = [int(number) for number in inlining.EXPRESSION.findall(value)]
            trackable = token.name in links.CLICKED_TAGS and name == "href" and not notrack
            if not indexes:
                if not _allowed(name, literals[0]):
                    return False  # the per-email path reports it
                if not (trackable and links.web_link(literals[0].strip())):
                    self.source.text(f' {name}="{value}"')
                    continue
            self.source.text(f' {name}="')
            code, origins = _hook_call(
                "__ladder_link", len(self.specs), [self._value(index) for index in indexes]
            )
            self.source.code(code, origins)
            self.source.text('"')
            self.specs.append(hooks.AttributeSpec(name, tuple(literals), trackable))
        self.source.text(">")
        return True


def _has_links(token: inlining.Token) -> bool:
    return token.kind == "start" and any(
        name in links.URL_ATTRIBUTES or name == links.NOTRACK_ATTRIBUTE
        for name, _ in token.attributes
    )


def _literal_links_allowed(token: inlining.Token) -> bool:
    return all(
        _allowed(name, html.unescape(value))
        for name, value in token.attributes
        if name in links.URL_ATTRIBUTES and not inlining.EXPRESSION.search(value)
    )


def _allowed(attribute: str, value: str) -> bool:
    try:
        for url in links.attribute_urls(attribute, value):
            links.check_url(url)
    except RenderFailed:
        return False
    return True
