"""The frame around every email: layouts from ``templates/email/``, and CSS inlining.

The layouts add what every marketing email must carry — the unsubscribe and
preferences links and the sender's postal address — so no variant can leave
them out, plus the preheader as hidden preview text and the open pixel.

CSS is inlined into the email as sent: selectors match the markup it has,
including rows a loop produced and classes a variable chose. For most
variants that is done once, on the template that holds layout and body, and
checked to give what inlining each email gives (composed.py, inlining.py);
otherwise css-inline runs on each rendered email, about 0.15 ms for 5 KB, as
much as the rest of the render. ``@media`` rules cannot be inlined and are
kept in a ``<style>`` block for the clients that honour them.
"""

import css_inline
from django.conf import settings
from jinja2 import Template

from .environment import environment
from .errors import RenderFailed

#: The HTML layout; the rendered body is its ``content``.
HTML_LAYOUT = "base.html"
#: The text layout; the text body is its ``content``.
TEXT_LAYOUT = "base.txt"

# Remote stylesheets would mean a network fetch per email; a template has none.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def template(name: str, *, strict: bool) -> Template:
    """A layout, loaded once per process (workers restart on deploy)."""
    return environment(strict=strict).get_template(name)


def postal_address() -> str:
    """The sender's postal address, which anti-spam law (CAN-SPAM) wants in every email."""
    return getattr(settings, "LADDER_POSTAL_ADDRESS", "")


def inline_css(html: str) -> str:
    """The document with its ``<style>`` rules in ``style`` attributes."""
    try:
        return _INLINER.inline(html)
    except css_inline.InlineError as exc:
        raise RenderFailed(f"its CSS could not be inlined: {exc}", part="html") from exc
