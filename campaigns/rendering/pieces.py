"""Templates taken apart: the text Jinja outputs, the tags between, and the names they use.

:mod:`.composed` puts a layout and a body together from these pieces. They
come from Jinja's own lexer, so the text is exactly what Jinja would output
(whitespace control already applied), and a tag's ``code`` is the tag with
its whitespace control taken off, as it is written back.
"""

from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes
from jinja2.utils import pass_eval_context

from .environment import environment

#: Names that reach the template itself rather than a value.
_TEMPLATE_NAMES = frozenset({"self", "caller", "varargs", "kwargs"})
#: Statements whose structure :mod:`.inlining` understands; others are not composed.
_STATEMENTS = frozenset({"if", "elif", "else", "endif", "for", "endfor", "set", "with", "endwith"})
#: Template nodes that bring in or build HTML the composition never sees.
_NOT_COMPOSABLE = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.Block,
    nodes.EvalContextModifier,
)
#: Filters whose result is markup rather than text.
_MARKUP_FILTERS = frozenset({"safe", "urlize", "xmlattr"})
#: Filters whose result differs between the HTML part and the text part
#: (``join`` escapes what it joins in HTML), besides those taking the eval context.
_ESCAPING_FILTERS = frozenset({"escape", "e", "forceescape", "tojson", *_MARKUP_FILTERS})
_EVAL_CONTEXT = pass_eval_context(lambda: None).jinja_pass_arg
#: Globals, and an attribute of ``loop``, whose values change as they are used:
#: the text part may use them in another order than the HTML (a link's label
#: before its URL), so it cannot print the values the HTML got.
_STATEFUL_GLOBALS = frozenset({"cycler", "joiner"})
_STATEFUL_ATTRIBUTE = "changed"


@dataclass(frozen=True, slots=True)
class Tag:
    """One ``{{ … }}`` or ``{% … %}`` of a template, and where it came from."""

    inner: str
    statement: bool
    #: The statement's first word: ``if``, ``endfor`` …
    keyword: str | None
    part: str
    line: int

    @property
    def code(self) -> str:
        """The tag without whitespace control: the whitespace it removed is gone already."""
        return f"{{%{self.inner}%}}" if self.statement else f"{{{{{self.inner}}}}}"


def take_apart(source: str, part: str, *, verbatim: bool = False) -> list[str | Tag] | None:
    """The text Jinja outputs and the tags between, in order; None if not composable."""
    lexer = environment(strict=False, verbatim=verbatim).lexer
    found: list[str | Tag] = []
    tag: list | None = None  # [statement, line, keyword, inner values]
    try:
        for line, token, value in lexer.tokeniter(source, None):
            if token == "data":
                found.append(value)
            elif token in ("variable_begin", "block_begin"):
                tag = [token == "block_begin", line, None, []]
            elif token in ("variable_end", "block_end") and tag is not None:
                statement, first_line, keyword, inner = tag
                if statement and keyword not in _STATEMENTS:
                    return None
                found.append(Tag("".join(inner), statement, keyword, part, first_line))
                tag = None
            elif token.startswith(("comment", "linecomment")):
                continue  # outputs nothing; the whitespace it removed is gone
            elif tag is None:  # raw blocks, line statements
                return None
            else:
                if token == "name" and tag[0] and tag[2] is None:
                    tag[2] = value
                tag[3].append(value)
    except TemplateSyntaxError:
        return None
    return found


def normalized(source: str) -> str:
    """Line breaks as Jinja outputs them, so the text of the pieces is found in the source."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True, slots=True)
class Names:
    read: frozenset[str]
    assigned: frozenset[str]
    #: Every value is the same whether the template is rendered as HTML or as
    #: text, whatever order it is printed in.
    same_in_text: bool


def read_names(source: str) -> Names | None:
    """The names a template reads and assigns; None if it cannot be composed."""
    env = environment(strict=False)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return None
    filters = {node.name for node in tree.find_all(nodes.Filter)}
    if any(tree.find_all(_NOT_COMPOSABLE)) or filters & _MARKUP_FILTERS:
        return None
    read = {node.name for node in tree.find_all(nodes.Name) if node.ctx == "load"}
    assigned = set()
    for assign in tree.find_all(nodes.Assign):
        targets = [assign.target, *assign.target.find_all(nodes.Name)]
        assigned |= {target.name for target in targets if isinstance(target, nodes.Name)}
    names = read | assigned
    if names & _TEMPLATE_NAMES or any(name.startswith("__ladder") for name in names):
        return None
    escaping = filters & _ESCAPING_FILTERS or any(
        getattr(env.filters.get(name), "jinja_pass_arg", None) is _EVAL_CONTEXT for name in filters
    )
    shareable = not (
        escaping
        or read & _STATEFUL_GLOBALS
        or any(node.attr == _STATEFUL_ATTRIBUTE for node in tree.find_all(nodes.Getattr))
    )
    return Names(frozenset(read), frozenset(assigned), shareable)
