"""docs/lifecycle.md stays true: its default ladder is the shipped one, and
every rule it shows parses."""

import json
import re
from pathlib import Path

import pytest

from customers.lifecycle.defaults import DEFAULT_LADDER
from customers.rules import parse_rule

DOC = Path(__file__).resolve().parents[3] / "docs" / "lifecycle.md"
BLOCKS = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)]


def test_it_documents_the_default_ladder_as_shipped():
    assert BLOCKS[: len(DEFAULT_LADDER)] == [rule for rule, _ in DEFAULT_LADDER.values()]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: json.dumps(block)[:40])
def test_every_rule_in_it_parses(block):
    # A journey trigger carries its rule under "rule".
    parse_rule(block["rule"] if block.get("type") == "segment" else block)
