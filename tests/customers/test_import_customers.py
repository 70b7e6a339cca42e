"""``manage.py import_customers``: the CSV import, end to end."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from customers.models import Consent, ConsentRecord, ConsentSource, ConsentStatus, Customer
from tests.factories import CustomerFactory, email_marketing

#: The options most tests import with: a renamed email column, one attribute, one topic.
MAPPED = [
    "--map",
    "email=E-mail",
    "--map",
    "attributes.plan=Plan",
    "--consent",
    "email_marketing=Newsletter",
    "--consent-text-version",
    "v3",
]


def run(path, *options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_customers", str(path), *options, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def write(tmp_path):
    """Write a CSV file (text, or bytes as they are) and return its path."""

    def write(content: str | bytes, name: str = "customers.csv"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def ann(db):
    """A stored customer that the files below would update."""
    return CustomerFactory(
        email="ann@example.com",
        external_id="u-1",
        first_name="Ann",
        last_name="Lee",
        time_zone="Europe/London",
        attributes={"plan": "free", "city": "Lyon"},
    )


def _database():
    return (
        list(Customer.objects.order_by("pk").values()),
        list(Consent.objects.order_by("pk").values()),
        ConsentRecord.objects.count(),
    )


def refused(path, *options) -> str:
    """Run an import that must fail; check it wrote nothing; return its message."""
    before = _database()
    count = Customer.objects.count()
    with pytest.raises(CommandError) as exc:
        run(path, *options)
    assert Customer.objects.count() == count
    assert _database() == before
    return str(exc.value)


def test_it_creates_and_updates_customers_from_mapped_columns(write, ann):
    path = write(
        "E-mail,first_name,time_zone,Plan,Newsletter\n"
        "ANN@example.com,Anna,,pro,\n"
        "bob@example.com,Bob,Europe/Paris,,\n"
    )
    out, _ = run(path, *MAPPED)

    assert "Imported customers.csv: 1 created, 1 updated, 0 unchanged" in out
    ann.refresh_from_db()
    assert (ann.first_name, ann.last_name, ann.time_zone) == ("Anna", "Lee", "Europe/London")
    assert ann.attributes == {"plan": "pro", "city": "Lyon"}
    bob = Customer.objects.get(email="bob@example.com")
    assert (bob.first_name, bob.time_zone, bob.attributes) == ("Bob", "Europe/Paris", {})
    assert bob.stage_changes.get().cause == "imported from customers.csv"


def test_it_records_consent_with_its_proof(write, ann):
    path = write("E-mail,Plan,Newsletter\nann@example.com,,yes\nbob@example.com,,no\n")
    out, _ = run(path, *MAPPED, "--consent-source", "form", "--consent-text", "Send me news")

    assert "2 consent changes" in out
    record = ConsentRecord.objects.get(customer=ann)
    assert (record.status, record.source, record.actor) == (
        ConsentStatus.GRANTED,
        ConsentSource.FORM,
        "import:customers.csv",
    )
    assert (record.text, record.text_version) == ("Send me news", "v3")
    bob_consent = Consent.objects.get(customer__email="bob@example.com", topic=email_marketing())
    assert bob_consent.status == ConsentStatus.WITHDRAWN


def test_it_keeps_the_current_consent_when_the_cell_is_empty(write, ann):
    run(write("E-mail,Plan,Newsletter\nann@example.com,,yes\n", "first.csv"), *MAPPED)
    out, _ = run(write("E-mail,Plan,Newsletter\nann@example.com,,\n", "second.csv"), *MAPPED)

    assert "0 consent changes" in out
    assert Consent.objects.get(customer=ann).status == ConsentStatus.GRANTED


def test_it_changes_nothing_when_the_same_file_is_imported_again(write, ann):
    path = write("E-mail,Plan,Newsletter\nann@example.com,pro,yes\nbob@example.com,,y\n")
    run(path, *MAPPED)
    records = ConsentRecord.objects.count()
    ann.refresh_from_db()
    updated_at = ann.updated_at

    out, _ = run(path, *MAPPED)

    assert "0 created, 0 updated, 2 unchanged, 0 consent changes, 0 rejected" in out
    assert ConsentRecord.objects.count() == records
    ann.refresh_from_db()
    assert ann.updated_at == updated_at


def test_it_reads_a_file_saved_with_a_byte_order_mark(write, db):
    run(write("\ufeffemail,first_name\nann@example.com,Ann\n".encode()))
    assert Customer.objects.get(email="ann@example.com").first_name == "Ann"


def test_it_matches_by_external_id_alone(write, ann):
    run(write("external_id,last_name\nu-1,Smith\n"))
    ann.refresh_from_db()
    assert ann.last_name == "Smith"


def test_it_refuses_the_whole_file_for_an_invalid_email(write, ann):
    path = write("email,first_name\nann@example.com,Anna\nnot-an-email,Bob\n")
    message = refused(path)
    assert "1 invalid row; nothing was imported." in message
    assert 'row 3, column "email": not a valid email address' in message


def test_it_refuses_an_unknown_time_zone_naming_the_mapped_column(write, ann):
    path = write("email,Zone\nann@example.com,Europe/Paris\nbob@example.com,Mars/Base\n")
    message = refused(path, "--map", "time_zone=Zone")
    assert "row 3, column \"Zone\": unknown time zone 'Mars/Base'" in message


def test_it_refuses_values_with_the_same_words_as_the_api(write, ann):
    path = write(f"email,first_name\nbob@example.com,{'x' * 151}\n")
    assert 'row 2, column "first_name": is longer than 150 characters' in refused(path)


def test_it_refuses_a_row_that_names_no_customer(write, ann):
    path = write("email,first_name\nann@example.com,Anna\n,Bob\n")
    assert 'row 3, column "email": email or external_id is required' in refused(path)


def test_it_refuses_a_row_whose_email_and_external_id_are_two_customers(write, ann):
    CustomerFactory(email="bob@example.com", external_id="u-2")
    path = write("email,external_id,first_name\nbob@example.com,u-1,Bob\n")
    message = refused(path)
    assert 'row 2, column "email": bob@example.com belongs to customer' in message


def test_it_refuses_an_email_that_appears_twice_in_the_file(write, ann):
    path = write("email,first_name\nann@example.com,Anna\nbob@example.com,Bob\nAnn@Example.com,A\n")
    message = refused(path)
    assert 'row 4, column "email": ann@example.com appears twice (first on row 2)' in message


def test_it_refuses_an_unknown_column(write, ann):
    path = write("email,first_name,Plan\nann@example.com,Anna,pro\n")
    message = refused(path)
    assert 'unknown columns: "Plan" (column 3)' in message
    assert "--ignore-column" in message


def test_it_leaves_out_ignored_columns(write, ann):
    path = write("email,first_name,Plan,Notes\nann@example.com,Anna,pro,likes cats\n")
    run(path, "--ignore-column", "Plan", "--ignore-column", "Notes")
    run(path, "--ignore-unknown-columns")
    ann.refresh_from_db()
    assert (ann.first_name, ann.attributes) == ("Anna", {"plan": "free", "city": "Lyon"})


def test_it_refuses_a_mapped_column_missing_from_the_header(write, ann):
    path = write("email,first_name\nann@example.com,Anna\n")
    message = refused(path, "--map", "attributes.plan=Plan")
    assert 'column "Plan" (from --map attributes.plan=Plan) is not in the header' in message


def test_it_refuses_a_map_to_an_unknown_field(write, ann):
    path = write("email,Phone\nann@example.com,123\n")
    assert "phone is not a field" in refused(path, "--map", "phone=Phone")


def test_it_refuses_an_unknown_consent_topic_before_reading_rows(write, ann):
    path = write("email,SMS\nnot-an-email,maybe\n")
    message = refused(path, "--consent", "sms=SMS", "--consent-text-version", "v1")
    assert 'unknown consent topic "sms"' in message
    assert "known topics: email_marketing" in message
    assert "row 2" not in message


def test_it_refuses_consent_columns_without_a_text_version(write, ann):
    path = write("email,Newsletter\nann@example.com,yes\n")
    message = refused(path, "--consent", "email_marketing=Newsletter")
    assert "--consent needs --consent-text-version" in message


def test_it_refuses_a_consent_value_it_does_not_understand(write, ann):
    path = write("E-mail,Plan,Newsletter\nann@example.com,pro,yes\nbob@example.com,,maybe\n")
    message = refused(path, *MAPPED)
    assert 'row 3, column "Newsletter": "maybe" is not a consent value' in message


def test_it_refuses_a_row_with_the_wrong_number_of_fields(write, ann):
    path = write("email,first_name\nann@example.com,Anna\nbob@example.com,Bob,Jr\n")
    assert "row 3: has 3 fields but the header has 2" in refused(path)


def test_it_counts_rows_by_line_including_line_breaks_inside_quotes(write, ann):
    path = write('email,first_name\nann@example.com,"Ann\nMarie"\nnope,Bob\n')
    assert 'row 4, column "email"' in refused(path)


def test_it_refuses_a_file_that_is_not_utf8(write, ann):
    path = write("email,first_name\nann@example.com,Anna\nbob@example.com,Zoë\n".encode("latin-1"))
    message = refused(path)
    assert "is not UTF-8: line 3 has the byte 0xeb" in message
    assert "Nothing was imported." in message


def test_it_refuses_an_empty_file(write, ann):
    assert "is empty; its first line must be a header" in refused(write(""))


def test_it_refuses_a_file_without_a_header(write, ann):
    path = write("ann@example.com,Anna\nbob@example.com,Bob\n")
    message = refused(path)
    assert 'line 1 must be a header naming the columns, but none of "ann@example.com"' in message


def test_it_refuses_a_file_without_an_email_or_external_id_column(write, ann):
    path = write("first_name,last_name\nAnna,Lee\n")
    assert "no email or external_id column" in refused(path)


def test_it_refuses_a_missing_file(tmp_path, ann):
    assert "no such file" in refused(tmp_path / "nowhere.csv")


def test_it_lists_the_first_20_errors_and_counts_the_rest(write, ann):
    path = write("email\n" + "".join(f"bad-{n}\n" for n in range(25)))
    message = refused(path)
    assert message.startswith("25 invalid rows; nothing was imported.")
    assert 'row 21, column "email"' in message
    assert 'row 22, column "email"' not in message
    assert "... and 5 more" in message


def test_it_writes_nothing_on_a_dry_run(write, ann):
    path = write("E-mail,Plan,Newsletter\nann@example.com,pro,yes\nbob@example.com,,\n")
    before = _database()

    out, _ = run(path, *MAPPED, "--dry-run")

    assert "Dry run, nothing was written. customers.csv: 1 created, 1 updated" in out
    assert "1 consent changes" in out
    assert _database() == before


def test_it_fails_a_dry_run_like_a_real_run_when_a_row_is_invalid(write, ann):
    path = write("email\nann@example.com\nnope\n")
    assert 'row 3, column "email"' in refused(path, "--dry-run")


def test_it_imports_the_valid_rows_and_writes_the_rest_aside_with_skip_invalid(write, ann):
    path = write(
        "E-mail,Plan,Newsletter\n"
        "ann@example.com,pro,yes\n"
        "nope,basic,no\n"
        "bob@example.com,,maybe\n"
        "carl@example.com,,\n"
    )
    out, err = run(path, *MAPPED, "--skip-invalid")

    assert "1 created, 1 updated, 0 unchanged, 1 consent changes, 2 rejected" in out
    assert 'row 3, column "E-mail": not a valid email address' in err
    assert set(Customer.objects.values_list("email", flat=True)) == {
        "ann@example.com",
        "carl@example.com",
    }
    with (path.parent / "customers.rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        rejects = list(csv.reader(f))
    assert rejects[0] == ["error", "E-mail", "Plan", "Newsletter"]
    assert [row[1:] for row in rejects[1:]] == [
        ["nope", "basic", "no"],
        ["bob@example.com", "", "maybe"],
    ]
    assert rejects[2][0].startswith('row 4, column "Newsletter": "maybe" is not a consent value')


def test_it_writes_rejects_where_asked(write, tmp_path, ann):
    path = write("email\nann@example.com\nnope\n")
    rejects = tmp_path / "out" / "bad.csv"
    rejects.parent.mkdir()
    run(path, "--skip-invalid", "--rejects", str(rejects))
    assert "nope" in rejects.read_text(encoding="utf-8-sig")


def test_it_writes_nothing_when_the_rejects_file_cannot_be_written(write, tmp_path, ann):
    path = write("email,first_name\nann@example.com,Anna\nnope,Bob\n")
    rejects = tmp_path / "no-such-dir" / "rejects.csv"
    message = refused(path, "--skip-invalid", "--rejects", str(rejects))
    assert f"cannot write the rejects file {rejects}" in message


def test_it_imports_thousands_of_rows_with_a_bounded_number_of_queries(
    write, db, django_assert_max_num_queries
):
    rows = "".join(f"c{n}@example.com,First {n},{n % 2}\n" for n in range(3000))
    consent = ["--consent", "email_marketing=Newsletter", "--consent-text-version", "v1"]

    # A few queries per batch of 1,000 rows, never one per row; SQLite splits
    # bulk inserts at 999 parameters, so it needs more than PostgreSQL.
    with django_assert_max_num_queries(200):
        out, _ = run(write("email,first_name,Newsletter\n" + rows), *consent)
    assert "3000 created" in out
    assert ConsentRecord.objects.count() == 3000

    with django_assert_max_num_queries(200):
        out, _ = run(write("email,first_name,Newsletter\n" + rows.replace("First", "F")), *consent)
    assert "3000 updated" in out
