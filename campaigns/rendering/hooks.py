"""What a composed template calls as it renders: link checks, tracking, the text part.

A composed template (:mod:`.composed`) was inlined and read for links once.
Each URL attribute of its body became a call of :func:`attribute_hook`, which
checks the value this email gives it and tracks it; when the text part comes
from the same template, each stretch of it between two statements became a
call of :func:`text_hook`, which collects it, printing the values that
:func:`keep_hook` kept as the HTML printed them. They reach the email's
:class:`EmailHooks` through the values the template was rendered with, under
a key no template can name.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2.utils import pass_context

from . import links
from .errors import RenderFailed

#: Where a composed render keeps its :class:`EmailHooks` in the template
#: context. Not an identifier, so no template can name it.
STATE_KEY = "ladder hooks"
# The escapes markupsafe writes, undone last-first so "&amp;lt;" stays "&lt;".
_MARKUPSAFE_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&#39;", "'"), ("&#34;", '"'), ("&amp;", "&"))


@dataclass(frozen=True, slots=True)
class TextSpec:
    """A stretch of a text part between two statements: text around ``{{ … }}`` values."""

    #: With ``{!s}`` where each value goes (so a value prints as str() prints it).
    format: Callable[..., str]
    #: The text, when it has no values.
    literal: str

    @classmethod
    def of(cls, literals: Sequence[str]) -> "TextSpec":
        escaped = [literal.replace("{", "{{").replace("}", "}}") for literal in literals]
        return cls("{!s}".join(escaped).format, literals[0])


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One URL attribute of a composed template's body, as found when it was composed."""

    attribute: str
    #: The attribute's text around its ``{{ … }}`` values, entities decoded:
    #: one more than there are values. An attribute without values is a web
    #: link to track, checked already.
    literals: tuple[str, ...]
    #: The ``href`` of an ``<a>``/``<area>`` not marked ``data-ladder-notrack``.
    trackable: bool


def _as_attribute_text(value: Any) -> str:
    """A ``{{ … }}`` value as the attribute text a parser reads from the rendered email."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        html = value.__html__()
        if any(character in html for character in "<>\"'") or html.count("&") != sum(
            html.count(entity) for entity, _ in _MARKUPSAFE_ESCAPES
        ):
            raise RenderFailed("markup in a link of a composed template")
        for entity, character in _MARKUPSAFE_ESCAPES:
            html = html.replace(entity, character)
        return html
    return str(value)


class EmailHooks:
    """One email's link checks, tracking and text part, for a composed template to call."""

    __slots__ = ("kept", "never_tracked", "specs", "text", "texts", "track_link")

    def __init__(
        self,
        specs: Sequence[AttributeSpec],
        texts: Sequence[tuple[TextSpec, bool]],
        *,
        kept: int,
        track_link: Callable[[str], str] | None,
        untracked: Iterable[str],
    ) -> None:
        self.specs = specs
        self.texts = texts
        self.track_link = track_link
        self.never_tracked = {url.strip() for url in untracked}
        #: The text part so far.
        self.text: list[str] = []
        #: The latest value of each expression the text part prints too.
        self.kept: list[Any] = [None] * kept

    def attribute(self, index: int, values: tuple) -> str:
        """The attribute's text for this email: checked, and tracked when it should be.

        Returned unescaped: the template escapes it as it outputs it.
        """
        spec = self.specs[index]
        literals = spec.literals
        if not values:  # a web link written out, checked when the template was composed
            href = literals[0].strip()
            if self.track_link is None or href in self.never_tracked:
                return literals[0]
            return self.track_link(href)
        if len(values) == 1:
            value = literals[0] + _as_attribute_text(values[0]) + literals[1]
        else:
            pieces = [literals[0]]
            for value, literal in zip(values, literals[1:], strict=True):
                pieces += (_as_attribute_text(value), literal)
            value = "".join(pieces)
        # What an HTML parser does to every attribute it reads.
        if "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if "\0" in value:
            value = value.replace("\0", "\ufffd")
        for url in links.attribute_urls(spec.attribute, value):
            links.check_url(url)
        if spec.trackable and self.track_link is not None:
            href = value.strip()
            if href not in self.never_tracked and links.web_link(href):
                return self.track_link(href)
        return value

    def add_text(self, index: int, values: tuple) -> None:
        """Add a stretch of the text part: its text, with values printed as text.

        The body's stretches pass the slots of kept values; the layout's, values.
        """
        text, kept = self.texts[index]
        if not values:
            self.text.append(text.literal)
            return
        if kept:
            values = [self.kept[slot] for slot in values]
        self.text.append(text.format(*["" if value is None else value for value in values]))


@pass_context  # takes the context, so Jinja never calls it at compile time
def attribute_hook(context: Any, index: int, *values: Any) -> str:
    """What a composed template calls for a URL attribute of its body."""
    return context.parent[STATE_KEY].attribute(index, values)


@pass_context
def text_hook(context: Any, index: int, *values: Any) -> str:
    """What a composed template calls for a stretch of the text part; outputs nothing."""
    context.parent[STATE_KEY].add_text(index, values)
    return ""


@pass_context
def keep_hook(context: Any, value: Any, slot: int) -> Any:
    """Keep a value the text part prints too, and output it as usual."""
    context.parent[STATE_KEY].kept[slot] = value
    return value
