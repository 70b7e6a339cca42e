"""Render one email from a variant's templates, and check those templates when saved."""

import re
from collections.abc import Callable
from contextlib import closing
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from markupsafe import Markup

from . import layout, limits, links
from .context import CONTEXT_NAMES, check_context
from .environment import compiled, environment
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


def _stream(template: Template, context: dict[str, Any], part: str) -> str:
    """Render chunk by chunk, so runaway output stops at the limit, not in memory."""
    budget = limits.current()
    chunks, size = [], 0
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
        raise exc.located(part, _template_line(exc, template.filename)) from None
    except RecursionError as exc:
        line = _template_line(exc, template.filename)
        raise RenderFailed("templates call themselves too deeply", part=part, line=line) from None
    # A template is code a marketer wrote: whatever it raises fails this one
    # email with the reason, and never the worker.
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise RenderFailed(message, part=part, line=_template_line(exc, template.filename)) from exc
    return "".join(chunks)


def _template(part: str, source: str, *, strict: bool) -> Template:
    try:
        return compiled(part, source, strict=strict)
    except TemplateSyntaxError as exc:
        raise RenderFailed(exc.message or "syntax error", part=part, line=exc.lineno) from None


def _single_line(value: str, limit: int) -> str:
    # A CR or LF in a header could start a header of its own.
    return _WHITESPACE.sub(" ", value).strip()[:limit]


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
) -> RenderedEmail:
    # Compiling happens before the clock starts: it is done once per process,
    # and the first compile of a long template is no runaway.
    subject_template = _template("subject", subject, strict=strict)
    preheader_template = _template("preheader", preheader, strict=strict)
    html_template = _template("html", html, strict=strict)
    text_source = text_body if text_body.strip() else text_template_from_html(html)
    text_template = _template("text", text_source, strict=strict) if text_source else None
    html_layout = layout.template(layout.HTML_LAYOUT, strict=strict)
    text_layout = layout.template(layout.TEXT_LAYOUT, strict=strict)

    context = {**context, "unsubscribe_url": unsubscribe_url, "preferences_url": preferences_url}
    with limits.budget():
        subject = _single_line(
            _stream(subject_template, context, "subject"), limits.MAX_SUBJECT_CHARS
        )
        preheader = _single_line(
            _stream(preheader_template, context, "preheader"), limits.MAX_PREHEADER_CHARS
        )
        body = _stream(html_template, context, "html")
        try:
            # Only the body is parsed for links: the layout is a file of this
            # project, and the URLs it is given are checked as they are.
            tracked_body = links.check_and_track(
                body, track_link=track_link, untracked=(unsubscribe_url, preferences_url)
            )
            for url in (unsubscribe_url, preferences_url, open_pixel_url or ""):
                links.check_url(url)
        except RenderFailed as exc:
            raise exc.located("html", None) from None
        frame = {
            **context,
            "subject": subject,
            "preheader": preheader,
            "postal_address": layout.postal_address(),
            "open_pixel_url": open_pixel_url,
        }
        page = _stream(html_layout, {**frame, "content": Markup(tracked_body)}, "layout")
        page = layout.inline_css(page)

        if text_template is not None:
            body_text = _stream(text_template, context, "text")
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
