"""config.db: set-based writes behave like bulk_update / bulk_create(ignore_conflicts),
and ``field__any`` finds what ``field__in`` finds."""

from datetime import UTC, datetime

from django.db import connection

from config.db import bulk_insert, bulk_set
from customers.models import Customer, Event
from tests.factories import CustomerFactory, EventFactory

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_bulk_set_writes_only_the_fields_named(db):
    ann = CustomerFactory(first_name="Ann", attributes={"a": 1})
    bob = CustomerFactory(first_name="Bob")
    ann.first_name, ann.last_name, ann.attributes = "Anna", "ignored", {"nested": {"x": [1, None]}}
    bob.first_name, bob.attributes, bob.last_purchase_at = "Bobby", {}, WHEN
    assert bulk_set([ann, bob], ["first_name", "attributes", "last_purchase_at"]) == 2
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert (ann.first_name, ann.attributes, ann.last_purchase_at) == (
        "Anna",
        {"nested": {"x": [1, None]}},
        None,
    )
    assert ann.last_name != "ignored"
    assert (bob.first_name, bob.attributes, bob.last_purchase_at) == ("Bobby", {}, WHEN)


def test_bulk_set_handles_more_rows_than_one_statement(db):
    customers = Customer.objects.bulk_create(
        Customer(email=f"c{n}@example.com") for n in range(2500)
    )
    for customer in customers:
        customer.first_name = f"n{customer.pk}"
    assert bulk_set(customers, ["first_name"]) == 2500
    assert Customer.objects.filter(first_name__startswith="n").count() == 2500


def test_bulk_insert_skips_rows_that_hit_a_unique_constraint(db):
    customer = CustomerFactory()
    columns = (
        "customer",
        "name",
        "properties",
        "currency",
        "occurred_at",
        "received_at",
        "idempotency_key",
    )
    first = bulk_insert(Event, columns, [(customer.pk, "a", {"k": [1]}, "", WHEN, WHEN, "key-1")])
    again = bulk_insert(
        Event,
        columns,
        [
            (customer.pk, "a", {}, "", WHEN, WHEN, "key-1"),
            (customer.pk, "b", {}, "", WHEN, WHEN, "key-2"),
        ],
    )
    assert (first, again) == (1, 1)
    stored = dict(Event.objects.values_list("idempotency_key", "properties"))
    assert stored == {"key-1": {"k": [1]}, "key-2": {}}


def test_bulk_set_rows_leaves_rows_that_moved_on(db):
    from campaigns.models import Delivery, Message, Variant
    from config.db import bulk_set_rows
    from tests.factories import CustomerFactory, email_marketing

    message = Message.objects.create(key="k", name="k", topic=email_marketing())
    variant = Variant.objects.create(message=message, key="A", subject="s", html_body="x")
    sending, delivered = (
        Delivery.objects.create(
            customer=CustomerFactory(), message=message, variant=variant, status=status
        )
        for status in ("sending", "delivered")
    )
    rows = [(sending.pk, "sent"), (delivered.pk, "sent")]
    assert bulk_set_rows(Delivery, ["status"], rows, only_if=("status", ["sending"])) == 1
    assert Delivery.objects.get(pk=sending.pk).status == "sent"
    assert Delivery.objects.get(pk=delivered.pk).status == "delivered"


def test_bulk_set_rows_sets_constants_on_every_row_with_the_values_of_each(db):
    from config.db import bulk_set_rows

    ann, bob = CustomerFactory(first_name="Ann"), CustomerFactory(first_name="Bob")
    rows = [(ann.pk, "Anna"), (bob.pk, "Bobby")]

    changed = bulk_set_rows(
        Customer,
        ["first_name"],
        rows,
        constants={"last_purchase_at": WHEN, "locale": "fr", "attributes": {"vip": True}},
        only_if=("stage", ["suspect"]),
    )

    assert changed == 2
    stored = Customer.objects.order_by("pk").values_list(
        "first_name", "last_purchase_at", "locale", "attributes"
    )
    assert list(stored) == [
        ("Anna", WHEN, "fr", {"vip": True}),
        ("Bobby", WHEN, "fr", {"vip": True}),
    ]


def test_bulk_set_rows_writes_int_columns_with_and_without_nulls(db):
    # Plain ints travel as one array literal (config.db.int_array); a column
    # holding a None goes as a list, as before.
    from campaigns.models import Delivery, Message, Variant
    from config.db import bulk_set_rows
    from tests.factories import email_marketing

    message = Message.objects.create(key="k", name="k", topic=email_marketing())
    variant = Variant.objects.create(message=message, key="A", subject="s", html_body="x")
    other = Variant.objects.create(message=message, key="B", subject="s", html_body="x")
    first, second = (
        Delivery.objects.create(customer=CustomerFactory(), message=message, variant=variant)
        for _ in range(2)
    )
    rows = [(first.pk, 3, other.pk, None), (second.pk, 32767, variant.pk, 7)]
    assert bulk_set_rows(Delivery, ["attempts", "variant", "journey_version"], rows) == 2
    stored = Delivery.objects.order_by("pk").values_list(
        "attempts", "variant_id", "journey_version"
    )
    assert list(stored) == [(3, other.pk, None), (32767, variant.pk, 7)]


# --- field__any ------------------------------------------------------------------


def test_any_finds_what_in_finds(db):
    customers = [CustomerFactory() for _ in range(3)]
    wanted = [customers[0].pk, customers[2].pk, customers[2].pk, None, 10**9]
    assert (
        set(Customer.objects.filter(pk__any=wanted))
        == set(Customer.objects.filter(pk__in=wanted))
        == {customers[0], customers[2]}
    )


def test_any_of_nothing_matches_nothing_without_a_query(db, django_assert_num_queries):
    CustomerFactory()
    with django_assert_num_queries(0):
        assert list(Customer.objects.filter(pk__any=[])) == []
        assert list(Customer.objects.filter(pk__any=[None])) == []


def test_any_works_on_foreign_keys_text_and_in_updates(db):
    ann, bob = CustomerFactory(), CustomerFactory()
    EventFactory(customer=ann, name="page_view")
    EventFactory(customer=bob, name="purchase")
    assert list(Event.objects.filter(customer_id__any=[bob.pk]).values_list("name", flat=True)) == [
        "purchase"
    ]
    assert Customer.objects.filter(email__any=[ann.email, "nobody@example.com"]).get() == ann
    assert Customer.objects.filter(pk__any=[ann.pk, bob.pk]).update(first_name="Same") == 2


def test_any_is_one_array_parameter_on_postgresql(db):
    # The point of the lookup: a statement the same length whatever the list's,
    # so the driver parses it once (see config.db.AnyOf). Plain ints go as one
    # array literal, cast to the column's type; other values as a list.
    ids = list(range(1, 501))
    sql, params = Customer.objects.filter(pk__any=ids).query.sql_with_params()
    if connection.vendor == "postgresql":
        assert "= ANY(%s::bigint[])" in sql
        assert params == ("{" + ",".join(map(str, ids)) + "}",)
    else:
        assert sql.count("%s") == 500
    shorter, _ = Customer.objects.filter(pk__any=ids[:3]).query.sql_with_params()
    assert (shorter == sql) is (connection.vendor == "postgresql")
    for query, array in (
        (Event.objects.filter(customer_id__any=ids).query, "= ANY(%s::bigint[])"),  # RelatedAnyOf
        (Customer.objects.filter(email__any=["a@example.com", "b@example.com"]).query, "::text[]"),
    ):
        sql, _ = query.sql_with_params()
        assert (array in sql) is (connection.vendor == "postgresql")


def test_any_prepares_what_is_not_a_plain_int(db):
    # Model instances, bools and digit strings are prepared as __in prepares
    # them; only plain ints skip it.
    ann, bob = CustomerFactory(), CustomerFactory()
    EventFactory(customer=bob, name="purchase")
    assert list(Customer.objects.filter(pk__any=[str(ann.pk)])) == [ann]
    assert list(Event.objects.filter(customer__any=[bob]).values_list("name", flat=True)) == [
        "purchase"
    ]
    assert set(Customer.objects.filter(pk__any={ann.pk, bob.pk, ann.pk})) == {ann, bob}
    assert list(Customer.objects.filter(pk__any=(ann.pk, None))) == [ann]
    if connection.vendor == "postgresql":  # SQLite's driver refuses such an int, in __in too
        # Past bigint: no match, as with __in, rather than an error from the cast.
        assert list(Customer.objects.filter(pk__any=[ann.pk, 10**20])) == [ann]


AWKWARD = [
    'say "hi"',
    "back\\slash\\",
    "a,b",
    "{braces}",
    "",
    "  spaced  ",
    "NULL",
    "ünï 😀",
    "it's",
]


def test_any_finds_strings_whatever_they_hold(db):
    # Strings travel as one quoted array literal (config.db.array_literal).
    customers = [CustomerFactory(first_name=name) for name in AWKWARD]
    found = Customer.objects.filter(first_name__any=AWKWARD).values_list("first_name", flat=True)
    assert sorted(found) == sorted(AWKWARD)
    assert not Customer.objects.filter(first_name__any=["say hi", "back"]).exists()
    assert Customer.objects.filter(first_name__any=[AWKWARD[0]]).get() == customers[0]


def test_bulk_set_rows_writes_strings_whatever_they_hold(db):
    from config.db import bulk_set_rows

    customers = [CustomerFactory() for _ in AWKWARD]
    rows = [(customer.pk, name) for customer, name in zip(customers, AWKWARD, strict=True)]
    assert bulk_set_rows(Customer, ["first_name"], rows) == len(AWKWARD)
    stored = dict(Customer.objects.values_list("pk", "first_name"))
    assert stored == dict(rows)


def test_any_with_a_subquery_is_in(db):
    ann = CustomerFactory()
    EventFactory(customer=ann, name="purchase")
    buyers = Event.objects.filter(name="purchase").values("customer_id")
    assert list(Customer.objects.filter(pk__any=buyers)) == [ann]
