"""Message files: a message and its variants as TOML, checked before anything is stored.

A journey names the messages it sends; the admin is one way to write them,
a file kept next to the journey (``examples/messages/``) is the other, so a
store's whole set-up can live in version control. TOML because templates are
long, multi-line HTML: a literal string (three single quotes) holds them as
written, with no escaping. docs/message-format.md is the reference.

``message_parse`` reads one file's text without touching the database: TOML
syntax, then the fields (pydantic, unknown fields refused), then every
variant's templates with the same check the admin runs when a variant is
saved. ``message_reference_errors`` adds what needs the database. Every
problem names the file line, the variant and the field.
"""

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
)

from campaigns.rendering import template_check
from campaigns.senders import SenderNotVerified, sender_for
from customers.errors import pydantic_message

#: The templates of a variant, named as template problems name their part.
TEMPLATES = ("subject", "preheader", "html", "text")

_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _check_key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a message key: use 1 to 64 lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit"
        )
    return value


Key = Annotated[str, AfterValidator(_check_key)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Preheader = Annotated[str, StringConstraints(max_length=300)]
Html = Annotated[str, StringConstraints(min_length=1)]


class MessageInvalid(ValueError):
    """The file is not a valid message; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class VariantDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True)]
    weight: int = Field(default=1, ge=0)
    # A template left out is the message's (see MessageDoc).
    subject: Subject | None = None
    preheader: Preheader | None = None
    html: Html | None = None
    text: str | None = None


class MessageDoc(BaseModel):
    """A message. Templates set here are every variant's unless the variant sets
    its own, so a subject-line test writes the body once."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    topic: str = "email_marketing"
    sender: str = ""
    reply_to: EmailStr | None = None
    subject: Subject | None = None
    preheader: Preheader | None = None
    html: Html | None = None
    text: str | None = None
    variants: list[VariantDoc] = Field(min_length=1)


@dataclass(frozen=True)
class VariantSpec:
    key: str
    weight: int
    subject: str
    preheader: str
    html_body: str
    text_body: str


@dataclass(frozen=True)
class MessageSpec:
    key: str
    name: str
    topic: str
    sender: str
    reply_to: str
    variants: tuple[VariantSpec, ...]


_SECTION = re.compile(r"^\s*\[\[\s*variants\s*\]\]\s*(#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*(.*)$")
#: TOML's multi-line string delimiters: three double or three single quotes.
_MULTILINE = ('"' * 3, "'" * 3)


def _value_lines(text: str) -> dict[tuple[int | None, str], int]:
    """(variant index, or None for the message; field) -> the file line its value starts on.

    A light scan of the usual layout (a ``[[variants]]`` table per variant,
    ``field = value`` lines), skipping the inside of multi-line strings. It
    only points at lines in error messages: a layout it does not follow gets
    messages without a file line.
    """
    lines: dict[tuple[int | None, str], int] = {}
    variant: int | None = None
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote is not None:
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        if _SECTION.match(line):
            variant = 0 if variant is None else variant + 1
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            continue
        value = match.group(2).rstrip()
        opens = next((q for q in _MULTILINE if value.count(q) % 2 == 1), None)
        # TOML drops a line break right after the opening quotes: the text starts below.
        starts_below = opens is not None and value == opens
        lines.setdefault((variant, match.group(1)), number + starts_below)
        open_quote = opens
    return lines


def _where(lines: dict, raw: dict, variant: int | None, field: str, *, line: int = 1) -> str:
    """'line N, variants[1] "B", html': as much of it as is known. ``variant``
    None is the message itself; ``line`` is a line within the value."""
    parts = []
    start = lines.get((variant, field))
    if start is not None:
        parts.append(f"line {start + max(line, 1) - 1}")
    if variant is not None:
        label = f"variants[{variant}]"
        variants = raw.get("variants")
        if isinstance(variants, list) and variant < len(variants):
            entry = variants[variant]
            key = entry.get("key") if isinstance(entry, dict) else None
            if isinstance(key, str) and key:
                label += f' "{key}"'
        parts.append(label)
    if field:
        parts.append(field)
    return ", ".join(parts)


def _templates(doc: MessageDoc) -> list[dict[str, str | None]]:
    """Each variant's four templates, those it leaves out taken from the message."""
    return [
        {
            part: own if (own := getattr(variant, part)) is not None else getattr(doc, part)
            for part in TEMPLATES
        }
        for variant in doc.variants
    ]


def _template_problems(doc: MessageDoc, templates: list[dict], raw: dict, lines: dict) -> list:
    """The admin's save-time check on every variant, located in the file."""
    problems = []
    for index, sources in enumerate(templates):
        missing = [part for part in ("subject", "html") if not sources[part]]
        for part in missing:
            problems.append(
                f"{_where(lines, raw, index, part)}: is required: set it on the variant, "
                "or on the message for every variant"
            )
        if missing:
            continue
        for problem in template_check(**{part: sources[part] or "" for part in TEMPLATES}):
            # A template set on the message is reported once, as the message's.
            owner = index if getattr(doc.variants[index], problem.part) is not None else None
            where = _where(lines, raw, owner, problem.part, line=problem.line or 1)
            if problem.line is not None:
                where += f" (template line {problem.line})"
            problems.append(f"{where}: {problem.message}")
    return list(dict.fromkeys(problems))


def message_parse(text: str) -> MessageSpec:
    """A message file's text as a ``MessageSpec``, or ``MessageInvalid`` with every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MessageInvalid([f"not valid TOML: {exc}"]) from None
    lines = _value_lines(text)
    try:
        doc = MessageDoc.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = list(error["loc"])
            variant = None
            if len(loc) >= 2 and loc[0] == "variants" and isinstance(loc[1], int):
                variant, loc = loc[1], loc[2:]
            field = ".".join(str(part) for part in loc)
            problems.append(f"{_where(lines, raw, variant, field)}: {pydantic_message(error)}")
        raise MessageInvalid(problems) from None

    problems = []
    keys = [variant.key for variant in doc.variants]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            problems.append(f"{_where(lines, raw, index, 'key')}: variant {key!r} appears twice")
    if not any(variant.weight for variant in doc.variants):
        problems.append("variants: every weight is 0; at least one variant must be sent")
    try:
        sender_for(doc.sender)
    except SenderNotVerified as exc:
        problems.append(f"{_where(lines, raw, None, 'sender')}: {exc}")
    templates = _templates(doc)
    problems += _template_problems(doc, templates, raw, lines)
    if problems:
        raise MessageInvalid(problems)
    return MessageSpec(
        key=doc.key,
        name=doc.name,
        topic=doc.topic,
        sender=doc.sender,
        reply_to=doc.reply_to or "",
        variants=tuple(
            VariantSpec(
                key=variant.key,
                weight=variant.weight,
                subject=sources["subject"],
                preheader=sources["preheader"] or "",
                html_body=sources["html"],
                text_body=sources["text"] or "",
            )
            for variant, sources in zip(doc.variants, templates, strict=True)
        ),
    )


def message_reference_errors(
    spec: MessageSpec, *, topics: set[str], sent_variants: dict[str, dict[str, int]]
) -> list[str]:
    """Problems only the database can tell: the consent topic must exist, and a
    variant that emails were sent with cannot be dropped from the file (the
    emails, their clicks and their A/B results refer to it).

    ``sent_variants``: message key -> variant key -> emails queued with it.
    """
    problems = []
    if spec.topic not in topics:
        known = ", ".join(sorted(topics)) or "none"
        problems.append(f"topic: there is no consent topic {spec.topic!r} (known: {known})")
    kept = {variant.key for variant in spec.variants}
    for key, sent in sorted(sent_variants.get(spec.key, {}).items()):
        if key not in kept and sent:
            problems.append(
                f"variants: {key!r} is not in the file, but {sent:,} emails were sent with it; "
                "keep it with weight = 0 to stop sending it"
            )
    return problems


# --- Writing ----------------------------------------------------------------


def _toml_string(value: str) -> str:
    """A TOML string that reads back as ``value``: a multi-line literal string
    for text with line breaks (as people write templates), else a basic string
    (JSON's escapes are TOML's)."""
    literal = "'" * 3
    plain = all(char in "\n\t" or char >= " " for char in value) and "\x7f" not in value
    if "\n" in value and plain and literal not in value:
        # The line break after the opening quotes is not part of the value.
        return f"{literal}\n{value}{literal}"
    return json.dumps(value, ensure_ascii=False)


def message_toml(spec: MessageSpec) -> str:
    """The file ``message_parse`` reads back as ``spec``. A template every variant
    has alike is written once, on the message, as people write subject-line tests."""
    fields = {"subject": "subject", "preheader": "preheader", "html": "html_body"}
    fields["text"] = "text_body"
    shared = {
        name: values.pop()
        for name, attr in fields.items()
        if len(values := {getattr(v, attr) for v in spec.variants}) == 1 and len(spec.variants) > 1
    }
    lines = [f"key = {_toml_string(spec.key)}", f"name = {_toml_string(spec.name)}"]
    if spec.topic != "email_marketing":
        lines.append(f"topic = {_toml_string(spec.topic)}")
    for name in ("sender", "reply_to"):
        if getattr(spec, name):
            lines.append(f"{name} = {_toml_string(getattr(spec, name))}")
    lines += [f"{name} = {_toml_string(value)}" for name, value in shared.items() if value]
    for variant in spec.variants:
        lines += ["", "[[variants]]", f"key = {_toml_string(variant.key)}"]
        if variant.weight != 1:
            lines.append(f"weight = {variant.weight}")
        for name, attr in fields.items():
            value = getattr(variant, attr)
            if name not in shared and value:
                lines.append(f"{name} = {_toml_string(value)}")
    return "\n".join(lines) + "\n"
