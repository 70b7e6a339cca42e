"""Links in rendered emails: which schemes may appear, and which links are tracked.

HTML is read with lexbor (through selectolax), an HTML5 parser, so a link is
seen exactly as a mail client will see it: entities decoded (``&#106;avascript:``
is ``javascript:``), attributes found however they are quoted.

That parse happens once per template when it can (:mod:`.composed`): the URL
attributes of the body are found in the template, and each becomes a call of
:func:`.hooks.attribute_hook`, which checks and tracks the value as the email
renders. Otherwise :func:`check_and_track` parses each rendered body.
"""

import re
import string
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from .errors import RenderFailed

#: The only schemes a link or image source may use. Anything else
#: (javascript:, data:, vbscript:, file: …) fails the email.
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
#: Schemes of the links rewritten through ``track_link`` and listed by :func:`links_in`.
WEB_SCHEMES = frozenset({"http", "https"})
#: Attributes whose value a mail client may follow or load.
URL_ATTRIBUTES = (
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "background",
    "poster",
    "cite",
    "xlink:href",
)
#: Put on a link (``<a href="…" data-ladder-notrack>``) to keep it out of click
#: tracking; removed from the email that is sent.
NOTRACK_ATTRIBUTE = "data-ladder-notrack"

#: Tags whose ``href`` is a link someone clicks, and so is tracked.
CLICKED_TAGS = frozenset({"a", "area"})

_URL_ATTRIBUTE_SET = frozenset(URL_ATTRIBUTES)
# CSS attribute selectors; the colon of xlink:href must be escaped there.
_SELECTORS = {
    name: "[" + name.replace(":", "\\:") + "]" for name in (*URL_ATTRIBUTES, NOTRACK_ATTRIBUTE)
}
# What browsers ignore in a URL before reading its scheme (WHATWG URL standard):
# tabs and newlines anywhere, control characters and spaces at either end.
_IGNORED_IN_URL = re.compile(r"[\t\n\r]")
_C0_CONTROLS_AND_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_WEB_PREFIXES = ("https://", "http://")
_COMMON_PREFIXES = (*_WEB_PREFIXES, "mailto:")
_SCHEME_CHARACTERS = string.ascii_letters + string.digits + "+.-"
_NOT_FIRST_IN_SCHEME = string.digits + "+.-"
#: Schemes that a few clients turn into links in plain text even without "//".
SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})
# Every colon check_text could refuse: one before "//", or one after the last
# letter of a script scheme's name (a superset, decided by the loop). Starting
# with the colon keeps the regex fast: it is searched for as a literal.
_TEXT_LINK_CANDIDATES = re.compile(
    ":(?://|(?<=["
    + "".join(sorted({name[-1] + name[-1].upper() for name in SCRIPT_SCHEMES}))
    + "]:))"
)


def scheme_of(url: str) -> str | None:
    """The lower-case scheme of a URL as a browser reads it, or None for a relative one."""
    if url.startswith(_COMMON_PREFIXES):  # the usual case, without the regexes
        return url[: url.index(":")]
    match = _SCHEME.match(_IGNORED_IN_URL.sub("", url).strip(_C0_CONTROLS_AND_SPACE))
    return match.group(1).lower() if match else None


def web_link(href: str) -> bool:
    """An absolute http(s) URL: what is tracked, and what ``links_register`` stores."""
    # The usual case, decided as urlsplit would without its parse: the host
    # starts after "//" with a letter or digit. Personal links (a product per
    # customer) differ in every email, so urlsplit's cache rarely hits. Left to
    # urlsplit: IPv6 brackets and non-ASCII hosts, which it checks.
    for prefix in _WEB_PREFIXES:
        if (
            href.startswith(prefix)
            and href[len(prefix) : len(prefix) + 1].isalnum()
            and href.isascii()
            and "[" not in href
            and "]" not in href
        ):
            return True
    return scheme_of(href) in WEB_SCHEMES and bool(urlsplit(href).netloc)


def attribute_urls(attribute: str, value: str) -> Iterable[str]:
    if attribute == "srcset":  # "a.png 1x, b.png 2x"
        return (candidate.split()[0] for candidate in value.split(",") if candidate.strip())
    return (value,)


def _refuse(url: str, scheme: str) -> RenderFailed:
    allowed = ", ".join(sorted(ALLOWED_SCHEMES))
    shown = url if len(url) <= 80 else url[:77] + "..."
    return RenderFailed(f"link {shown!r} uses {scheme}:, but only {allowed} links are allowed")


def check_url(url: str) -> None:
    """Refuse one URL with a forbidden scheme."""
    scheme = scheme_of(url)
    if scheme is not None and scheme not in ALLOWED_SCHEMES:
        raise _refuse(url, scheme)


def check_and_track(
    html: str,
    *,
    track_link: Callable[[str], str] | None,
    untracked: Iterable[str],
) -> str:
    """Refuse links with a forbidden scheme; send web links through ``track_link``.

    ``html`` is an email body: a fragment, parsed as the content of the
    layout's ``<div>``, which is where it ends up. Not tracked: mailto links,
    the unsubscribe and preferences links (a scanner following a tracked
    unsubscribe link would count as a click), and links marked
    ``data-ladder-notrack``.
    """
    tree = LexborHTMLParser(html, is_fragment=True)
    never_tracked = {url.strip() for url in untracked}
    seen = set()
    # Matching ten attribute selectors costs more than looking for their names
    # in the text first; most emails have only href and src.
    selector = ", ".join(css for name, css in _SELECTORS.items() if name in html)
    for node in tree.css(selector) if selector else ():
        if node.mem_id in seen:  # lexbor lists an element once per selector it matches
            continue
        seen.add(node.mem_id)
        attributes = node.attributes
        for attribute in _URL_ATTRIBUTE_SET.intersection(attributes):
            for url in attribute_urls(attribute, attributes[attribute] or ""):
                check_url(url)
        if NOTRACK_ATTRIBUTE in attributes:
            del node.attrs[NOTRACK_ATTRIBUTE]
            continue
        href = (attributes.get("href") or "").strip()
        if (
            track_link is not None
            and node.tag in CLICKED_TAGS
            and href not in never_tracked
            and web_link(href)
        ):
            node.attrs["href"] = track_link(href)
    return tree.html or ""


def check_text(text: str) -> None:
    """Refuse links in a text part with a scheme other than http, https or mailto.

    In text, a link is what clients make clickable: "scheme://…", or one of
    :data:`SCRIPT_SCHEMES` followed by anything ("Note:" and "10:30" are not links).
    """
    # Only a colon before "//" or after a script scheme's name can start such
    # a link; the regex finds those (and a few more), the loop decides.
    for candidate in _TEXT_LINK_CANDIDATES.finditer(text):
        colon = candidate.start()
        if _plain_web_link(text, colon):
            continue
        # The word before the colon, found with str methods: a regex search
        # here costs more than the rest of the check.
        window = text[max(colon - 64, 0) : colon]
        name = window[len(window.rstrip(_SCHEME_CHARACTERS)) :].lstrip(_NOT_FIRST_IN_SCHEME).lower()
        after = text[colon + 1 : colon + 3]
        is_link = after[:1].strip() and (after == "//" or name in SCRIPT_SCHEMES)
        if name and is_link and name not in ALLOWED_SCHEMES:
            raise _refuse(f"{name}:{text[colon + 1 :].split(maxsplit=1)[0]}", name)


def _plain_web_link(text: str, colon: int) -> bool:
    """Is the word before this colon exactly "http" or "https"? The usual case, decided fast."""
    for scheme in ("https", "http"):
        start = colon - len(scheme)
        if text.startswith(scheme, start) and (
            start == 0 or text[start - 1] not in _SCHEME_CHARACTERS
        ):
            return True
    return False


def links_in(html: str) -> list[str]:
    """The distinct absolute http(s) link targets of an HTML document, in document order.

    Only ``<a>`` and ``<area>`` hrefs (images are loaded, not clicked), with
    HTML entities decoded, as a browser follows them.
    """
    seen: dict[str, None] = {}
    for node in LexborHTMLParser(html).css("a[href], area[href]"):
        href = (node.attributes.get("href") or "").strip()
        if web_link(href):
            seen.setdefault(href)
    return list(seen)
