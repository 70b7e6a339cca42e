"""The import's options, checked before the file is read: column maps and consent columns."""

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from customers.errors import pydantic_message
from customers.models import ConsentStatus, Topic
from customers.schemas import ConsentIn
from customers.services.consent import ConsentProof
from customers.services.profiles import (
    PROFILE_FIELDS,
)

#: Rows checked and written together; the services' query count is per batch.
BATCH_SIZE = 1000

#: Prefix of a ``--map`` target that goes into the customer's attributes.
ATTRIBUTES_PREFIX = "attributes."

#: What a consent cell may say (lower-cased) -> the status it records.
CONSENT_VALUES = {
    "yes": ConsentStatus.GRANTED,
    "y": ConsentStatus.GRANTED,
    "true": ConsentStatus.GRANTED,
    "1": ConsentStatus.GRANTED,
    "no": ConsentStatus.WITHDRAWN,
    "n": ConsentStatus.WITHDRAWN,
    "false": ConsentStatus.WITHDRAWN,
    "0": ConsentStatus.WITHDRAWN,
}

#: ConsentIn field -> the option that set it, for error messages.
CONSENT_OPTIONS = {
    "source": "--consent-source",
    "text": "--consent-text",
    "text_version": "--consent-text-version",
}

#: Longest actor and cause the models store; a long file name is cut to fit.
MAX_ACTOR_LENGTH = 150
MAX_CAUSE_LENGTH = 200


class ImportRefused(Exception):
    """The options or the file as a whole are unusable; nothing was written."""


@dataclass(frozen=True)
class ImportSpec:
    """What the options ask for, checked before the file is opened."""

    #: Target ("email", "attributes.plan") -> header name, from ``--map``.
    maps: dict[str, str]
    #: Topic -> header name, from ``--consent``.
    consents: dict[Topic, str]
    ignore_columns: frozenset[str]
    ignore_unknown_columns: bool
    #: Proof recorded with every consent change; None without consent columns.
    proof: ConsentProof | None


def _split_pair(option: str, value: str) -> tuple[str, str]:
    key, sep, column = value.partition("=")
    if not sep or not key.strip() or not column.strip():
        raise ImportRefused(f'{option} "{value}": expected KEY=COLUMN, e.g. {option} email=E-mail')
    return key.strip(), column.strip()


def _maps_parse(values: Sequence[str]) -> dict[str, str]:
    maps: dict[str, str] = {}
    for value in values:
        target, column = _split_pair("--map", value)
        is_attribute = target.startswith(ATTRIBUTES_PREFIX) and target != ATTRIBUTES_PREFIX
        if target not in PROFILE_FIELDS and not is_attribute:
            raise ImportRefused(
                f'--map "{value}": {target} is not a field; use one of '
                f"{', '.join(PROFILE_FIELDS)} or {ATTRIBUTES_PREFIX}<key>"
            )
        if target in maps:
            raise ImportRefused(f"--map {target} is given twice")
        maps[target] = column
    return maps


def _consents_parse(values: Sequence[str]) -> dict[Topic, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, column = _split_pair("--consent", value)
        if key in pairs:
            raise ImportRefused(f"--consent {key} is given twice")
        pairs[key] = column
    topics = {t.key: t for t in Topic.objects.filter(key__in=pairs)} if pairs else {}
    unknown = [key for key in pairs if key not in topics]
    if unknown:
        known = ", ".join(Topic.objects.order_by("key").values_list("key", flat=True))
        raise ImportRefused(
            f'unknown consent topic "{unknown[0]}" (--consent {unknown[0]}=...); '
            f"known topics: {known or 'none'}"
        )
    return {topics[key]: column for key, column in pairs.items()}


def spec_build(
    *,
    maps: Sequence[str],
    consents: Sequence[str],
    ignore_columns: Sequence[str],
    ignore_unknown_columns: bool,
    consent_source: str,
    consent_text: str,
    consent_text_version: str,
    filename: str,
) -> ImportSpec:
    """Check the options before the file is read, so a typo costs no waiting."""
    maps_by_target = _maps_parse(maps)
    topics = _consents_parse(consents)
    proof = None
    if topics:
        if not consent_text_version:
            raise ImportRefused(
                "--consent needs --consent-text-version: the version of the wording these "
                "customers agreed to, kept as proof with every consent change"
            )
        try:
            checked = ConsentIn(
                source=consent_source, text=consent_text, text_version=consent_text_version
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ImportRefused(
                f"{CONSENT_OPTIONS[error['loc'][0]]}: {pydantic_message(error)}"
            ) from None
        proof = ConsentProof(
            source=checked.source,
            actor=f"import:{filename}"[:MAX_ACTOR_LENGTH],
            text=checked.text,
            text_version=checked.text_version,
        )
    elif consent_text or consent_text_version:
        raise ImportRefused(
            "--consent-text and --consent-text-version only apply with --consent TOPIC=COLUMN"
        )
    return ImportSpec(
        maps=maps_by_target,
        consents=topics,
        ignore_columns=frozenset(ignore_columns),
        ignore_unknown_columns=ignore_unknown_columns,
        proof=proof,
    )
