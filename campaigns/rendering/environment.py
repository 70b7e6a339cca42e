"""The sandboxed Jinja2 environment email templates run in, and the compiled-template cache.

Two environments share one configuration and differ in what an undefined value
does. Live rendering uses :class:`~jinja2.ChainableUndefined`: a customer
without a ``city`` attribute gets an email with that gap, not no email. The
save-time check uses :class:`~jinja2.StrictUndefined`, so a misspelt
``customer.frist_name`` is reported before anything is sent.
"""

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from jinja2 import ChainableUndefined, FileSystemLoader, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from . import limits
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
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_post(node, frame, finalize)
        if frame.buffer is not None:
            self.write(")")

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

    def __init__(self, *, strict: bool) -> None:
        super().__init__(
            loader=FileSystemLoader(layout_dir()),
            autoescape=_autoescape,
            undefined=StrictUndefined if strict else ChainableUndefined,
            finalize=_none_as_empty,
            trim_blocks=True,
            lstrip_blocks=True,
            # Layouts change with a deploy, which restarts workers.
            auto_reload=False,
        )
        self.globals["range"] = limits.checked_range
        # lipsum(n) spins for n paragraphs in one call; an email has no use for it.
        del self.globals["lipsum"]
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}
        self.filters[LOOP_GUARD] = _guard_loop

    def check_size(self, value: Any) -> Any:
        return limits.check_size(value)

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

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"{attribute!r} of a {type(obj).__name__} may not be used in templates")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.current().check_time()
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
def environment(*, strict: bool) -> EmailSandbox:
    return EmailSandbox(strict=strict)


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
    return env.template_class.from_code(env, code, env.make_globals(None), None)
