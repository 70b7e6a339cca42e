"""The published JSON Schema and the documentation stay true to the parser."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator

from customers.rules import RULE_JSON_SCHEMA, parse_rule
from tests.customers.rules.strategies import rules
from tests.customers.rules.test_parse import ERRORS

DOCS = Path(__file__).resolve().parents[3] / "docs"
VALIDATOR = Draft202012Validator(RULE_JSON_SCHEMA)


def _examples() -> list[str]:
    return re.findall(r"```json\n(.*?)```", (DOCS / "rules.md").read_text(), re.DOTALL)


#: How to bring docs/schemas/rule.schema.json up to date after changing the language.
REGENERATE = (
    'regenerate: python manage.py shell -c "import json; from customers.rules import '
    "RULE_JSON_SCHEMA as s; open('docs/schemas/rule.schema.json', 'w').write("
    "json.dumps(s, indent=2, ensure_ascii=False) + '\\n')\""
)


def test_it_publishes_the_schema_in_the_docs():
    published = json.loads((DOCS / "schemas" / "rule.schema.json").read_text())
    assert published == RULE_JSON_SCHEMA, REGENERATE


def test_it_is_a_draft_2020_12_schema():
    Draft202012Validator.check_schema(RULE_JSON_SCHEMA)


def test_it_has_examples_in_the_docs():
    assert len(_examples()) >= 20


@pytest.mark.parametrize("example", _examples(), ids=lambda text: text[:50])
def test_it_accepts_every_example_in_the_docs(example):
    document = json.loads(example)
    VALIDATOR.validate(document)
    parse_rule(document)


@settings(max_examples=300, deadline=None)
@given(document=rules(huge=True))
def test_it_accepts_every_rule_the_parser_accepts(document):
    parse_rule(document)
    VALIDATOR.validate(document)


#: Problems only parse_rule sees: a schema does not count decimal places, spot
#: NUL, NaN or a missing offset (``format`` is not asserted), or tell 2^60 from 2^60.0.
PARSER_ONLY = ("NUL", "two decimal places", "finite", "time zone offset", "ISO 8601", "±9007")
SCHEMA_ERRORS = [e for e in ERRORS if not any(words in e[2] for words in PARSER_ONLY)]


@pytest.mark.parametrize(("document", "path", "words"), SCHEMA_ERRORS, ids=lambda v: repr(v)[:60])
def test_it_refuses_what_the_parser_refuses_where_a_schema_can_say_it(document, path, words):
    assert not VALIDATOR.is_valid(document)
