"""Email rendering: sandboxed Jinja2 templates in, a finished email out. No database.

The delivery code calls :func:`render_email` per customer; the admin calls
:func:`template_check` when a variant is saved. ``docs/templates.md`` is the
marketer's guide to what templates may use.
"""

from .context import sample_context
from .errors import RenderedEmail, RenderFailed, TemplateProblem
from .links import links_in
from .render import render_email, template_check

__all__ = [
    "RenderFailed",
    "RenderedEmail",
    "TemplateProblem",
    "links_in",
    "render_email",
    "sample_context",
    "template_check",
]
