"""The sandboxed Jinja2 environment email templates run in, and the compiled-template cache.

Two environments share one configuration and differ in what an undefined value
does. Live rendering uses :class:`~jinja2.ChainableUndefined`: a customer
without a ``city`` attribute gets an email with that gap, not no email. The
save-time check uses :class:`~jinja2.StrictUndefined`, so a misspelt
``customer.frist_name`` is reported before anything is sent. A third, the
*verbatim* environment, compiles composed templates (composed.py), whose text
is already exactly what is output.

The code generator adds the limit checks the sandbox has no hook for, joins
each output node's pieces into one chunk, and has composed templates output
through :meth:`EmailSandbox.escape_composed`, which refuses markup a
composed template was not checked for.
"""

import functools
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import BuiltinMethodType
from typing import Any

from django.conf import settings
from jinja2 import ChainableUndefined, FileSystemLoader, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from markupsafe import escape

from . import hooks, limits
from .errors import RenderFailed

#: Compiled templates kept per process and environment: every part of every
#: variant in use, with room for edits made while a campaign is running.
TEMPLATE_CACHE_SIZE = 512
#: Parts rendered without HTML escaping: subject, preheader and text bodies.
#: The preheader is escaped later, where the layout places it in the HTML.
TEXT_PARTS = frozenset({"subject", "preheader", "text"})
#: The filter name the loop guard is registered under. Not a valid identifier,
#: so a template cannot call it, and never folded at compile time (it takes the
#: context).
LOOP_GUARD = "ladder loop guard"
#: Names of the templates that hold a layout and a body in one (see
#: :mod:`.composed`). Their output is HTML and text respectively.
COMPOSED_HTML = "email.html"
COMPOSED_TEXT = "email.txt"
#: The filters a composed template calls for its URL attributes and its text
#: part (see :mod:`.hooks`). Not identifiers, so only code can place them.
LINK_HOOK = "ladder link"
TEXT_HOOK = "ladder text"
KEEP_HOOK = "ladder keep"
# Markup that is not just escaped text: tags, quotes, or entities other than
# the five markupsafe writes. Its place in a composed template was decided for
# text, so such a value cannot be put there (see EmailSandbox.escape_composed).
_MARKUP_NOT_TEXT = re.compile(r"[<>\"']|&(?!(?:amp|lt|gt|#39|#34);)")
_HTML_SPECIAL = re.compile(r"[&<>\"']")
#: How a composed template outputs a ``{{ … }}``: one call that does what
#: ``escape(finalize(…))`` (or ``str(finalize(…))``) does in two.
_COMPOSED_OUTPUT = {COMPOSED_HTML: "escape_composed", COMPOSED_TEXT: "text_composed"}
#: Types whose built-in methods templates call most (``strftime``, ``quantize``
#: …): immutable, never marked unsafe, never taking a context.
_VALUE_TYPES = frozenset({datetime, date, time, timedelta, Decimal, int, float, bool})
#: Pieces of one ``Output`` node yielded as one chunk (see visit_Output).
_PIECES_PER_CHUNK = 16
#: Methods that allocate as much as an argument asks before any size check
#: can see the result (``(1).to_bytes(10**9)`` is a gigabyte); no email needs them.
_ALLOCATING_METHODS = frozenset({"to_bytes"})
#: Entries in the sandbox's cache of which attributes are safe, per type.
_SAFE_ATTRIBUTE_CACHE_SIZE = 4096


def layout_dir() -> Path:
    """Where the layouts live: ``templates/email/``, beside the project's Django templates."""
    return Path(settings.BASE_DIR) / "templates" / "email"


def _autoescape(name: str | None) -> bool:
    return name is not None and name not in TEXT_PARTS and not name.endswith(".txt")


def _none_as_empty(value: Any) -> Any:
    # A missing last_purchase_at should print nothing, not "None".
    return "" if value is None else value


@pass_context
def _guard_loop(context: Any, iterable: Any) -> Any:
    return limits.guarded_iteration(iterable)


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with limit checks where the sandbox has no hook.

    Every ``for`` loop iterates through the loop guard; every ``~``
    concatenation and list/tuple/dict literal is measured; every ``{{ … }}``
    output inside macros and ``{% set %}``/``{% filter %}`` blocks is counted,
    as that output is buffered rather than streamed. Those are the ways a
    template could grow a value, or spin, without calling anything.
    """

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    # Output that is streamed is measured as it streams (see render._stream);
    # output that is buffered is counted here, as each piece is added.
    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if frame.buffer is not None:
            self.write("environment.produced(")
        composed = _COMPOSED_OUTPUT.get(self.name)
        if composed is not None:
            self.write(f"environment.{composed}(")  # finalizes and escapes in one call
            return
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if self.name in _COMPOSED_OUTPUT:
            self.write(")")
        else:
            super()._output_child_post(node, frame, finalize)
        if frame.buffer is not None:
            self.write(")")

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # A constant Markup ({{ "<b>"|safe }}) would be written into the
        # composed template as it is, unchecked; evaluate it per email instead,
        # where escape_composed sees it.
        if (
            self.name == COMPOSED_HTML
            and not isinstance(node, nodes.TemplateData)
            and hasattr(node.as_const(frame.eval_ctx), "__html__")
        ):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """Yield each ``Output`` node as one chunk rather than one per piece.

        ``<td><a href="{{ a }}">{{ b }}</a></td>`` is five pieces; a render
        pays for every chunk it streams (a generator step, a size check), so
        streamed output is joined per node, a few pieces at a time. Buffered
        output (macros, blocks) and templates that extend others keep Jinja's
        own code.
        """
        if frame.buffer is not None or frame.require_output_check:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        body: list[Any] = []
        for child in node.nodes:  # Jinja's constant folding, as in super()
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if len(body) < 2:
            super().visit_Output(node, frame)
            return
        # A few pieces per chunk: one huge expression is slow and costly for
        # Python to compile, and a chunk stays small (each piece a template
        # makes is at most limits.MAX_VALUE_SIZE) until _stream measures it.
        for start in range(0, len(body), _PIECES_PER_CHUNK):
            self.writeline('yield "".join((')
            self.indent()
            for item in body[start : start + _PIECES_PER_CHUNK]:
                if isinstance(item, list):
                    self.writeline(self._output_const_repr(item) + ",")
                    continue
                self.newline(item)
                self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
                self.write(",")
            self.outdent()
            self.writeline("))")

    def _measured(self, visit, node: nodes.Node, frame: Frame) -> None:
        self.write("environment.check_size(")
        visit(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self._measured(super().visit_Concat, node, frame)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._measured(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._measured(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target, e.g. {% for key, value in … %}
            super().visit_Tuple(node, frame)
            return
        self._measured(super().visit_Tuple, node, frame)


_DICT_ATTRIBUTES = frozenset(dir(dict))
_PRIVATE = "{!r} is private: templates may not use names that start with an underscore"


def _private(name: Any, obj: Any) -> bool:
    """Underscore names are Python internals, unless they are real keys of a dict."""
    if not isinstance(name, str) or not name.startswith("_"):
        return False
    return not (isinstance(obj, Mapping) and name in obj)


def _guard_filter(name: str, func: Any) -> Any:
    """Wrap a filter so its result is measured and, for amplifiers, its arguments checked."""
    limit = limits.FILTER_LIMITS.get(name)
    # Filters marked pass_context/pass_eval_context/pass_environment get that first.
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if limit is not None:
            checked, kwargs = limit(args[skip:], kwargs)
            args = (*args[:skip], *checked)
        return limits.check_size(func(*args, **kwargs))

    return guarded


class EmailSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, made loud and bounded.

    The stock sandbox turns a forbidden attribute into an undefined value, which
    live rendering would print as nothing; here it fails the email instead, so
    an attempt to reach ``__class__`` is reported, not silently blanked. Every
    call, amplifying operator and filter result goes through :mod:`.limits`.
    """

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset(limits.BINARY_OPERATORS)

    def __init__(self, *, strict: bool, verbatim: bool = False) -> None:
        super().__init__(
            loader=FileSystemLoader(layout_dir()),
            autoescape=_autoescape,
            undefined=StrictUndefined if strict else ChainableUndefined,
            finalize=_none_as_empty,
            # A verbatim environment compiles composed templates, whose text is
            # already exactly what is output: the whitespace these options
            # remove was removed when the parts were taken apart.
            trim_blocks=not verbatim,
            lstrip_blocks=not verbatim,
            keep_trailing_newline=verbatim,
            # Layouts change with a deploy, which restarts workers.
            auto_reload=False,
        )
        self.globals["range"] = limits.checked_range
        # lipsum(n) spins for n paragraphs in one call; an email has no use for it.
        del self.globals["lipsum"]
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}
        self.filters[LOOP_GUARD] = _guard_loop
        self.filters[LINK_HOOK] = hooks.attribute_hook
        self.filters[TEXT_HOOK] = hooks.text_hook
        self.filters[KEEP_HOOK] = hooks.keep_hook
        self._safe_attributes: dict[tuple[type, str], bool] = {}

    def check_size(self, value: Any) -> Any:
        return limits.check_size(value)

    def escape_composed(self, value: Any) -> str:
        """``escape(finalize(value))`` for composed HTML, refusing Markup that is more than text.

        A composed template was inlined and link-checked once, with each
        ``{{ … }}`` standing for text. A value that brings its own markup
        (``|safe``, ``|urlize`` …) could add elements or attributes that were
        never checked, so it fails the composed render; the email is then
        rendered the per-email way, which parses what the value brought. The
        result is a plain string (with markupsafe's escapes): nothing reads it
        as Markup, and making one per value is half the cost.
        """
        if value.__class__ is not str:
            if value is None:
                return ""
            if hasattr(value, "__html__"):
                html = value.__html__()
                if _MARKUP_NOT_TEXT.search(html):
                    raise RenderFailed("markup in a composed template")
                return html
            value = str(value)
        if _HTML_SPECIAL.search(value) is None:
            return value
        return str(escape(value))

    def text_composed(self, value: Any) -> str:
        """``str(finalize(value))`` for composed text, in one call."""
        return "" if value is None else str(value)

    def produced(self, output: str) -> str:
        limits.current().produce(len(output))
        return output

    def concat(self, parts: Any) -> str:
        """Join a buffer (macro, {% set %} or {% filter %} block), measured before joining.

        A buffer may hold the same long string thousands of times at little
        cost; the joined copy is what would not fit.
        """
        parts = list(parts)
        limits.check_size_estimate(sum(map(len, parts)))
        return "".join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        limits.current().check_time()
        return limits.check_size(limits.BINARY_OPERATORS[operator](left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The context is plain dicts, so customer.first_name is a key almost every
        # time; look it up directly rather than after a failed attribute lookup
        # (an exception each). Names of dict methods keep Jinja's meaning.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            if attribute in obj:
                return obj[attribute]
            if not attribute.startswith("_"):
                return self.undefined(obj=obj, name=attribute)
        if _private(attribute, obj):
            raise SecurityError(_PRIVATE.format(attribute))
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if _private(argument, obj):
            raise SecurityError(_PRIVATE.format(argument))
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # Jinja decides from the object's type and the name alone (internal
        # attributes of functions, frames…; methods that modify known mutable
        # types), so the answer is kept per type and name.
        key = (type(obj), attr)
        safe = self._safe_attributes.get(key)
        if safe is None:
            safe = attr not in _ALLOCATING_METHODS and super().is_safe_attribute(obj, attr, value)
            if len(self._safe_attributes) < _SAFE_ATTRIBUTE_CACHE_SIZE:
                self._safe_attributes[key] = safe
        return safe

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} may not be used in templates")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.current().check_time()
        if type(__obj) is BuiltinMethodType and type(__obj.__self__) in _VALUE_TYPES:
            # event.occurred_at.strftime(…): what the checks below and Jinja's
            # Context.call would conclude for a method of an immutable value
            # (safe, no context to pass), without their attribute probes.
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            return limits.check_size(__obj(*args, **kwargs))
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (limits.guarded_iteration(args[0]), *args[1:])
        limit = limits.STRING_METHOD_LIMITS.get(getattr(__obj, "__name__", None))
        if limit is not None:
            method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
            owner = getattr(method, "__self__", None)
            if isinstance(owner, str | bytes):
                args, kwargs = limit(owner, args, kwargs)
        return limits.check_size(super().call(__context, __obj, *args, **kwargs))


@functools.cache
def environment(*, strict: bool, verbatim: bool = False) -> EmailSandbox:
    return EmailSandbox(strict=strict, verbatim=verbatim)


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def compiled(part: str, source: str, *, strict: bool) -> Template:
    """The template for one part's source, compiled once per process.

    Keyed by the source itself: an edited variant is a new key, and the old one
    ages out. Raises :class:`jinja2.TemplateSyntaxError` for a broken template.
    """
    if len(source) > limits.MAX_TEMPLATE_CHARS:
        raise RenderFailed(
            f"the template is {len(source):,} characters long;"
            f" the limit is {limits.MAX_TEMPLATE_CHARS:,}",
            part=part,
        )
    env = environment(strict=strict)
    code = env.compile(source, name=part, filename=part)
    return from_code(env, code)


def from_code(env: EmailSandbox, code: Any) -> Template:
    """A template from compiled code, with its globals in a plain dict.

    Jinja keeps them in a ChainMap over the environment's, which every render
    copies key by key; the globals of these environments never change.
    """
    return env.template_class.from_code(env, code, dict(env.make_globals(None)), None)
