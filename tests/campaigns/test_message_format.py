"""Message files: docs/message-format.md's examples, import_messages and export_message."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns.message_format import MessageInvalid, message_parse, message_toml
from campaigns.models import Delivery, Message, Variant
from tests.factories import consented_customer

DOC = Path(__file__).resolve().parents[2] / "docs" / "message-format.md"


def _doc_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), re.S)


def _problems(text: str) -> list[str]:
    with pytest.raises(MessageInvalid) as exc:
        message_parse(text)
    return exc.value.problems


def _write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _import(*paths) -> str:
    out = StringIO()
    call_command("import_messages", *paths, stdout=out)
    return out.getvalue()


def test_every_message_in_the_docs_imports_and_importing_again_changes_nothing(tmp_path, db):
    blocks = _doc_blocks("toml")
    assert len(blocks) >= 2
    paths = [_write(tmp_path, f"m{n}.toml", text) for n, text in enumerate(blocks)]
    assert _import(*paths).count("created") == len(blocks)
    sale = Message.objects.get(key="spring-sale")
    a, b = sale.variants.order_by("key")
    assert (a.weight, b.weight) == (3, 1)
    assert a.html_body == b.html_body and "Spring sale" in a.html_body
    assert a.preheader == b.preheader == "Two weeks only."
    assert _import(*paths).count("unchanged") == len(blocks)


def test_the_documented_errors_are_what_the_command_says(tmp_path, db):
    sale = _doc_blocks("toml")[1]
    broken = sale.replace("Shop the sale</a>", "Shop now, {{ custmer.first_name }}</a>")
    typo, template = (block.splitlines() for block in _doc_blocks("text"))
    for text, documented in (
        (broken.replace('\nsubject = "{{', '\nsubjet = "{{'), typo),
        (broken, template),
    ):
        path = _write(tmp_path, "spring-sale.toml", text)
        with pytest.raises(CommandError) as exc:
            call_command("import_messages", path)
        said = [line.replace(str(tmp_path) + "/", "") for line in str(exc.value).splitlines()]
        assert said == [line.removeprefix("CommandError: ") for line in documented[1:]]
    assert not Message.objects.exists()


def test_it_names_line_variant_and_field(db):
    text = 'key = "m"\nname = "M"\n\n[[variants]]\nkey = "A"\nweight = -1\nhtml = "<p>hi</p>"\n'
    assert _problems(text) == [
        'line 6, variants[0] "A", weight: Input should be greater than or equal to 0'
    ]
    assert _problems(text.replace("weight = -1", 'subject = "Hi"\nkey2 = 1')) == [
        'line 7, variants[0] "A", key2: is not a known field'
    ]


def test_a_missing_template_says_where_it_may_be_set(db):
    text = 'key = "m"\nname = "M"\n\n[[variants]]\nkey = "A"\nsubject = "Hi"\n'
    assert _problems(text) == [
        'variants[0] "A", html: is required: set it on the variant, or on the message '
        "for every variant"
    ]


def test_a_template_error_points_at_the_file_line(db):
    text = (
        'key = "m"\nname = "M"\n\n[[variants]]\nkey = "A"\nsubject = "Hi"\n'
        "html = '''\n<p>one</p>\n<p>{% if %}</p>\n'''\n"
    )
    (problem,) = _problems(text)
    assert problem.startswith('line 9, variants[0] "A", html (template line 2): ')


def test_it_refuses_bad_keys_duplicates_unverified_senders_and_no_weight(db, settings):
    settings.LADDER_SENDERS = ["Shop <news@shop.example>"]
    text = (
        'key = "Bad Key"\nname = "M"\nsubject = "Hi"\nhtml = "<p>hi</p>"\n'
        '[[variants]]\nkey = "A"\nweight = 0\n[[variants]]\nkey = "A"\nweight = 0\n'
    )
    (problem,) = _problems(text)
    assert problem.startswith("line 1, key: 'Bad Key' is not a message key")
    problems = _problems(
        text.replace("Bad Key", "ok").replace('name = "M"', 'name = "M"\nsender = "x@else.example"')
    )
    assert problems[0] == "line 10, variants[1] \"A\", key: variant 'A' appears twice"
    assert problems[1] == "variants: every weight is 0; at least one variant must be sent"
    assert problems[2].startswith("line 3, sender: 'x@else.example' is not a verified sender")


def test_it_says_what_is_wrong_with_the_file_itself(tmp_path, db):
    with pytest.raises(CommandError, match="no such file or directory"):
        call_command("import_messages", tmp_path / "missing.toml")
    with pytest.raises(CommandError, match=r"no \.toml message files"):
        call_command("import_messages", tmp_path)
    bad = _write(tmp_path, "bad.toml", 'key = "m"\nname =\n')
    with pytest.raises(CommandError, match=r"bad.toml: not valid TOML: .*\(at line 2, column 7\)"):
        call_command("import_messages", bad)
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"'.encode("latin-1"))
    with pytest.raises(CommandError, match=r"latin1\.toml: not UTF-8 text"):
        call_command("import_messages", tmp_path / "latin1.toml")


def test_one_invalid_file_stores_nothing_from_the_others(tmp_path, db):
    good = _write(tmp_path, "a.toml", _doc_blocks("toml")[0])
    unknown_topic = _doc_blocks("toml")[1].replace(
        'name = "Spring sale"', 'name = "Spring sale"\ntopic = "sms"'
    )
    bad = _write(tmp_path, "b.toml", unknown_topic)
    with pytest.raises(CommandError) as exc:
        call_command("import_messages", good, bad)
    assert "b.toml: topic: there is no consent topic 'sms' (known: email_marketing)" in str(
        exc.value
    )
    assert not Message.objects.exists()


def test_the_same_key_in_two_files_is_refused(tmp_path, db):
    text = _doc_blocks("toml")[0]
    a, b = _write(tmp_path, "a.toml", text), _write(tmp_path, "b.toml", text)
    with pytest.raises(CommandError, match=r"b\.toml: message .welcome-1. is also in .*a\.toml"):
        call_command("import_messages", a, b)
    b.unlink()
    assert "created" in _import(a, tmp_path)  # a file named twice is read once


def test_a_variant_left_out_is_deleted_unless_emails_were_sent_with_it(tmp_path, db):
    sale = _doc_blocks("toml")[1]
    path = _write(tmp_path, "sale.toml", sale)
    _import(path)
    only_a = sale[: sale.index('[[variants]]\nkey = "B"')]
    _write(tmp_path, "sale.toml", only_a)
    assert "variants B deleted" in _import(path)
    _write(tmp_path, "sale.toml", sale)
    _import(path)
    message = Message.objects.get(key="spring-sale")
    Delivery.objects.create(
        customer=consented_customer(), message=message, variant=message.variants.get(key="B")
    )
    _write(tmp_path, "sale.toml", only_a)
    with pytest.raises(CommandError) as exc:
        call_command("import_messages", path)
    assert "'B' is not in the file, but 1 emails were sent with it; keep it with weight = 0" in str(
        exc.value
    )
    assert Variant.objects.filter(message=message).count() == 2
    _write(tmp_path, "sale.toml", sale.replace("weight = 1\n", "weight = 0\n"))
    assert "variants B changed" in _import(path)
    assert message.variants.get(key="B").weight == 0


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (DOC.parents[1] / "examples" / "messages").glob("*.toml"))
)
def test_export_writes_what_import_reads_back(name, db, tmp_path):
    path = DOC.parents[1] / "examples" / "messages" / name
    _import(path)
    key = message_parse(path.read_text()).key
    exported = tmp_path / "exported.toml"
    call_command("export_message", key, output=exported, stderr=StringIO())
    assert message_parse(exported.read_text()) == message_parse(path.read_text())
    assert "unchanged" in _import(exported)


def test_export_keeps_odd_text_exact(db):
    spec = message_parse(
        'key = "m"\nname = "M \\"quoted\\""\n[[variants]]\nkey = "A"\n'
        'subject = "Hi"\nhtml = "<p>a \'\'\' b</p>\\n<p>\\\\back\\tslash</p>\\n"\n'
        '[[variants]]\nkey = "B"\nweight = 2\nsubject = "Ho"\nhtml = "<p>one line</p>"\n'
    )
    assert message_parse(message_toml(spec)) == spec


def test_export_of_an_unknown_message_says_so(db):
    with pytest.raises(CommandError, match="There is no message 'nope'"):
        call_command("export_message", "nope")
