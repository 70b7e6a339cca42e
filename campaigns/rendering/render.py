"""Render one email from a variant's templates, and check those templates when saved.

Two paths make the same email. The *composed* path (composed.py) renders one
template that holds the layout and the body, its CSS inlined and its links
found once per template, and makes the text part in the same render when it
can: about 0.2 ms for a 5 KB email. The *per-email* path renders the body,
parses it to check and track its links, renders the layout around it, inlines
the page's CSS and renders the text part: about four times the work. It is the
reference the composed path is checked against, and it renders a variant that
cannot be composed faithfully, an email whose composed render failed (so the
failure is reported as it always was), and the save-time check.
"""

import functools
import re
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from markupsafe import Markup

from . import composed, hooks, layout, limits, links
from .context import CONTEXT_NAMES, check_context
from .environment import TEMPLATE_CACHE_SIZE, compiled, environment
from .errors import RenderedEmail, RenderFailed, TemplateProblem
from .text import html_to_text, text_template_from_html, tidy

#: Runs of whitespace, line breaks included, in the subject and preheader.
_WHITESPACE = re.compile(r"\s+")
#: The parts of a variant, in the order they are rendered and reported.
PARTS = ("subject", "preheader", "html", "text")


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line an error was raised at, from Jinja's rewritten traceback."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _stream(
    template: Template,
    context: dict[str, Any],
    part: str,
    locate: Callable[[int | None], tuple[str | None, int | None]] | None = None,
) -> str:
    """Render chunk by chunk, so runaway output stops at the limit, not in memory.

    ``locate`` maps a line of a composed template to the part and line it
    came from.
    """
    budget = limits.current()
    chunks: list[str] = []
    size = 0
    try:
        with closing(template.generate(context)) as stream:
            for chunk in stream:
                size += len(chunk)
                if size > limits.MAX_OUTPUT_CHARS:
                    raise RenderFailed(
                        f"the {part} part grew past {limits.MAX_OUTPUT_CHARS:,} characters"
                    )
                budget.check_time()
                chunks.append(chunk)
    except RenderFailed as exc:
        raise exc.located(*_where(exc, template, part, locate)) from None
    except RecursionError as exc:
        part, line = _where(exc, template, part, locate)
        raise RenderFailed("templates call themselves too deeply", part=part, line=line) from None
    # A template is code a marketer wrote: whatever it raises fails this one
    # email with the reason, and never the worker.
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        part, line = _where(exc, template, part, locate)
        raise RenderFailed(message, part=part, line=line) from exc
    return "".join(chunks)


def _where(exc: BaseException, template: Template, part: str, locate) -> tuple[str, int | None]:
    line = _template_line(exc, template.filename)
    if locate is None:
        return part, line
    located_part, located_line = locate(line)
    return located_part or part, located_line


def _template(part: str, source: str, *, strict: bool) -> Template:
    try:
        return compiled(part, source, strict=strict)
    except TemplateSyntaxError as exc:
        raise RenderFailed(exc.message or "syntax error", part=part, line=exc.lineno) from None


def _single_line(value: str, limit: int) -> str:
    # A CR or LF in a header could start a header of its own.
    return _WHITESPACE.sub(" ", value).strip()[:limit]


def _header(template: Template, source: str, context: dict[str, Any], part: str, limit: int) -> str:
    """The subject or preheader: one line, at most ``limit`` characters."""
    if "{" not in source:  # no tags: rendering would only normalize its line breaks
        return _constant_line(source, limit)
    return _single_line(_stream(template, context, part), limit)


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _constant_line(source: str, limit: int) -> str:
    return _single_line(source, limit)


@dataclass(frozen=True, slots=True)
class _Parts:
    """A variant's templates, compiled, with what rendering them needs besides the context."""

    subject: str
    subject_template: Template
    preheader: str
    preheader_template: Template
    html_template: Template
    #: The text template (written, or made from the HTML); None when each
    #: rendered body has to be converted instead (see text.py).
    text_template: Template | None
    track_link: Callable[[str], str] | None
    open_pixel_url: str | None
    unsubscribe_url: str
    preferences_url: str

    def headers(self, context: dict[str, Any]) -> tuple[str, str]:
        """The subject and the preheader, each on one line."""
        subject = _header(
            self.subject_template, self.subject, context, "subject", limits.MAX_SUBJECT_CHARS
        )
        preheader = _header(
            self.preheader_template,
            self.preheader,
            context,
            "preheader",
            limits.MAX_PREHEADER_CHARS,
        )
        return subject, preheader

    def frame(self, context: dict[str, Any], subject: str, preheader: str) -> dict[str, Any]:
        """What the layouts see: the context, and the email's frame."""
        return {
            **context,
            "subject": subject,
            "preheader": preheader,
            "postal_address": layout.postal_address(),
            "open_pixel_url": self.open_pixel_url,
        }


def _render(
    *,
    subject: str,
    preheader: str,
    html: str,
    text_body: str,
    context: dict[str, Any],
    track_link: Callable[[str], str] | None,
    open_pixel_url: str | None,
    unsubscribe_url: str,
    preferences_url: str,
    strict: bool,
    compose: bool = True,
) -> RenderedEmail:
    # Compiling happens before the clock starts: it is done once per process,
    # and the first compile of a long template is no runaway.
    text_source = text_body if text_body.strip() else text_template_from_html(html)
    parts = _Parts(
        subject=subject,
        subject_template=_template("subject", subject, strict=strict),
        preheader=preheader,
        preheader_template=_template("preheader", preheader, strict=strict),
        html_template=_template("html", html, strict=strict),
        text_template=_template("text", text_source, strict=strict) if text_source else None,
        track_link=track_link,
        open_pixel_url=open_pixel_url,
        unsubscribe_url=unsubscribe_url,
        preferences_url=preferences_url,
    )
    context = {**context, "unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url}

    # The save-time check takes the per-email path, which reports every
    # problem as it always has; so does a variant whose text part has to be
    # converted from each rendered body.
    plan = composed.composed(html, text_source) if compose and not strict and text_source else None
    if plan is not None:
        try:
            return _render_composed(plan, parts, context)
        except RenderFailed as exc:
            if exc.reason == limits.TIME_LIMIT_REASON:
                raise  # rendering again would take as long again
            # Anything else fails again below, reported exactly as it always
            # was: the part, the line, and which problem came first. A value
            # that carried its own markup renders there, where it is parsed.
    return _render_per_email(parts, context, strict=strict)


def _render_composed(
    plan: composed.Composed, parts: _Parts, context: dict[str, Any]
) -> RenderedEmail:
    """One render (two, when the text has its own template): CSS and links are done already.

    See composed.py. Any failure is a RenderFailed, possibly without the part
    and line the per-email path would give; a timeout has both.
    """
    untracked = (parts.unsubscribe_url, parts.preferences_url)
    with limits.budget():
        subject, preheader = parts.headers(context)
        for url in (*untracked, parts.open_pixel_url or ""):
            links.check_url(url)
        email = hooks.EmailHooks(
            plan.links,
            plan.texts,
            kept=plan.kept,
            track_link=parts.track_link,
            untracked=untracked,
        )
        frame = {**parts.frame(context, subject, preheader), hooks.STATE_KEY: email}
        page = _stream(plan.html.template, frame, "html", plan.html.locate)
        if plan.text is None:
            plain = "".join(email.text)
            if len(plain) > limits.MAX_OUTPUT_CHARS:
                raise RenderFailed(
                    f"the text part grew past {limits.MAX_OUTPUT_CHARS:,} characters"
                )
        else:
            plain = _stream(plan.text.template, frame, "text", plan.text.locate)
        plain = tidy(plain)
        links.check_text(plain)
    return RenderedEmail(subject=subject, html=page, text=plain)


def _render_per_email(parts: _Parts, context: dict[str, Any], *, strict: bool) -> RenderedEmail:
    """Render the body, parse it for links, render the layout, inline the page, render the text."""
    html_layout = layout.template(layout.HTML_LAYOUT, strict=strict)
    text_layout = layout.template(layout.TEXT_LAYOUT, strict=strict)
    with limits.budget():
        subject, preheader = parts.headers(context)
        body = _stream(parts.html_template, context, "html")
        try:
            # Only the body is parsed for links: the layout is a file of this
            # project, and the URLs it is given are checked as they are.
            tracked_body = links.check_and_track(
                body,
                track_link=parts.track_link,
                untracked=(parts.unsubscribe_url, parts.preferences_url),
            )
            for url in (parts.unsubscribe_url, parts.preferences_url, parts.open_pixel_url or ""):
                links.check_url(url)
        except RenderFailed as exc:
            raise exc.located("html", None) from None
        frame = parts.frame(context, subject, preheader)
        page = _stream(html_layout, {**frame, "content": Markup(tracked_body)}, "layout")
        page = layout.inline_css(page)

        if parts.text_template is not None:
            body_text = _stream(parts.text_template, context, "text")
        else:
            body_text = html_to_text(body)  # the slow path: see text.py
        plain = tidy(_stream(text_layout, {**frame, "content": body_text}, "layout"))
        try:
            links.check_text(plain)
        except RenderFailed as exc:
            raise exc.located("text", None) from None
    return RenderedEmail(subject=subject, html=page, text=plain)


def render_email(
    *,
    subject: str,
    preheader: str,
    html: str,
    text: str,
    context: dict[str, Any],
    track_link: Callable[[str], str] | None = None,
    open_pixel_url: str | None = None,
    unsubscribe_url: str,
    preferences_url: str,
) -> RenderedEmail:
    """Render one email for one customer; raises :class:`RenderFailed` with the reason.

    ``context`` is the personalization context of ``docs/templates.md``, built
    from plain values. An empty ``text`` is generated from the HTML. Web links
    in the HTML go through ``track_link`` (except mailto, unsubscribe,
    preferences and ``data-ladder-notrack`` links); ``open_pixel_url`` becomes
    a 1x1 image at the end of the body.

    ``track_link`` is called as each link renders. An email whose fast
    (composed) render fails is rendered again the per-email way, to report
    the failure as it always was, so a link before the failure may be passed
    to ``track_link`` twice.
    """
    return _render(
        subject=subject,
        preheader=preheader,
        html=html,
        text_body=text,
        context=context,
        track_link=track_link,
        open_pixel_url=open_pixel_url,
        unsubscribe_url=unsubscribe_url,
        preferences_url=preferences_url,
        strict=False,
    )


def _unknown_names(part: str, source: str) -> list[TemplateProblem]:
    """Names used anywhere in the template, taken branch or not, that the context lacks."""
    env = environment(strict=True)
    tree = env.parse(source)
    unknown = meta.find_undeclared_variables(tree) - CONTEXT_NAMES - set(env.globals)
    problems = []
    for name in sorted(unknown):
        first_use = next(
            (node.lineno for node in tree.find_all(nodes.Name) if node.name == name), None
        )
        problems.append(TemplateProblem(part, first_use, f"{name!r} is not a known variable"))
    return problems


def template_check(*, subject: str, preheader: str, html: str, text: str) -> list[TemplateProblem]:
    """Everything wrong with a variant's templates, for the admin to show on save.

    Each part is compiled (syntax errors with their line), scanned for unknown
    variable names, and rendered against :func:`sample_context` with undefined
    values as errors. When every part passes alone, the whole email is rendered
    once more, which finds forbidden links and limits hit in the layout.
    """
    sources = dict(zip(PARTS, (subject, preheader, html, text), strict=True))
    problems: list[TemplateProblem] = []
    for part, source in sources.items():
        try:
            compiled(part, source, strict=True)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(part, exc.lineno, exc.message or "syntax error"))
            continue
        except RenderFailed as exc:
            problems.append(TemplateProblem(part, exc.line, exc.reason))
            continue
        problems += _unknown_names(part, source)
    if problems:
        return problems

    context = check_context()
    for part, source in sources.items():
        try:
            with limits.budget():
                _stream(compiled(part, source, strict=True), context, part)
        except RenderFailed as exc:
            problems.append(TemplateProblem(part, exc.line, exc.reason))
    if problems:
        return problems

    try:
        _render(
            subject=subject,
            preheader=preheader,
            html=html,
            text_body=text,
            context=context,
            track_link=None,
            open_pixel_url=None,
            unsubscribe_url=context["unsubscribe_url"],
            preferences_url=context["preferences_url"],
            strict=True,
        )
    except RenderFailed as exc:
        problems.append(TemplateProblem(exc.part or "html", exc.line, exc.reason))
    return problems
