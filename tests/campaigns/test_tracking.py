"""Open pixel, click redirect, link registry and the tokens behind them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from campaigns.models import Delivery, DeliveryClick, Message, VariantLink
from campaigns.tokens import (
    Purpose,
    click_url,
    list_unsubscribe_headers,
    open_pixel_url,
    preferences_url,
    token_make,
    token_read,
    unsubscribe_url,
)
from campaigns.tracking import CLICK_SCANNER_SECONDS, OPEN_PREFETCH_SECONDS, links_register
from customers.models import Event
from customers.services.consent import CONFIRM_SALT
from customers.services.erasure import customer_erase
from tests.factories import CustomerFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHOP = "https://shop.example.com/teapots?utm_source=email&x=1"
BLOG = "https://blog.example.com/brewing"


def _path(url: str) -> str:
    assert url.startswith(settings.LADDER_SITE_URL + "/t/")
    return url.removeprefix(settings.LADDER_SITE_URL)


def _delivery(sent_at: datetime | None = T0, key: str = "A") -> Delivery:
    message = Message.objects.get(key="m")
    return Delivery.objects.create(
        customer=CustomerFactory(),
        message=message,
        variant=message.variants.get(key=key),
        status=Delivery.Status.SENT,
        sent_at=sent_at,
    )


@pytest.fixture
def delivery(messages):
    return _delivery()


@pytest.fixture
def links(delivery):
    shop, blog = links_register(variant_id=delivery.variant_id, urls=[SHOP, BLOG])
    return {
        "shop": _path(click_url(delivery.pk, shop)),
        "blog": _path(click_url(delivery.pk, blog)),
    }


def _events(name: str) -> list[dict]:
    return list(Event.objects.filter(name=name).order_by("id").values_list("properties", flat=True))


# --- Open pixel ---------------------------------------------------------------


def test_it_serves_a_transparent_gif_that_is_never_cached(client, delivery):
    response = client.get(_path(open_pixel_url(delivery.pk)))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response["Cache-Control"] == "no-store"
    assert response.content.startswith(b"GIF89a\x01\x00\x01\x00")


def test_it_counts_a_unique_open_once(client, delivery):
    pixel = _path(open_pixel_url(delivery.pk))
    with time_machine.travel(T0 + timedelta(hours=1), tick=False) as traveller:
        client.get(pixel)
        traveller.shift(timedelta(minutes=5))
        client.get(pixel)
    delivery.refresh_from_db()
    assert delivery.opened_at == T0 + timedelta(hours=1)
    assert delivery.open_count == 2
    [opened] = _events("email_opened")
    assert opened == {"delivery_id": delivery.pk, "message": "m", "variant": "A", "machine": False}


def test_it_flags_an_open_right_after_sending_as_a_prefetch(client, delivery):
    pixel = _path(open_pixel_url(delivery.pk))
    with time_machine.travel(T0 + timedelta(seconds=OPEN_PREFETCH_SECONDS - 1), tick=False):
        client.get(pixel)
    delivery.refresh_from_db()
    assert (delivery.opened_at, delivery.open_count) == (None, 0)
    assert delivery.machine_opened_at is not None
    assert [e["machine"] for e in _events("email_opened")] == [True]

    # The person opening it later still counts.
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        client.get(pixel)
    delivery.refresh_from_db()
    assert (delivery.opened_at, delivery.open_count) == (T0 + timedelta(hours=2), 1)
    assert [e["machine"] for e in _events("email_opened")] == [True, False]


def test_it_judges_no_open_as_a_prefetch_without_a_send_time(client, messages):
    delivery = _delivery(sent_at=None)
    client.get(_path(open_pixel_url(delivery.pk)))
    delivery.refresh_from_db()
    assert delivery.open_count == 1


def test_it_records_nothing_for_head_requests(client, delivery, links):
    assert client.head(_path(open_pixel_url(delivery.pk))).status_code == 200
    assert client.head(links["shop"]).status_code == 302
    delivery.refresh_from_db()
    assert (delivery.open_count, delivery.click_count, delivery.machine_opened_at) == (0, 0, None)
    assert not Event.objects.exists()
    assert not DeliveryClick.objects.exists()


def test_an_open_takes_a_bounded_number_of_queries(client, delivery, django_assert_max_num_queries):
    # Savepoints included; PostgreSQL takes one more, around its COPY of the event.
    with django_assert_max_num_queries(11):
        client.get(_path(open_pixel_url(delivery.pk)))


def test_the_open_pixel_and_the_click_redirect_read_only_what_they_loaded(
    client, delivery, links, lazy_loads
):
    assert client.get(_path(open_pixel_url(delivery.pk))).status_code == 200
    assert client.get(links["shop"]).status_code == 302
    assert Event.objects.filter(name__in=["email_opened", "email_clicked"]).count() == 2
    assert lazy_loads == []


# --- Click redirect -------------------------------------------------------------


def test_it_redirects_to_the_stored_target_and_records_the_click(client, delivery, links):
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        response = client.get(links["shop"])
    assert response.status_code == 302
    assert response["Location"] == SHOP
    assert response["Cache-Control"] == "no-store"
    delivery.refresh_from_db()
    assert (delivery.clicked_at, delivery.click_count) == (T0 + timedelta(hours=1), 1)
    [clicked] = _events("email_clicked")
    assert clicked == {
        "delivery_id": delivery.pk,
        "message": "m",
        "variant": "A",
        "url": SHOP,
        "machine": False,
    }


def test_it_never_redirects_where_the_query_string_says(client, delivery, links):
    response = client.get(links["shop"] + "?url=https://evil.example/&next=https://evil.example/")
    assert response["Location"] == SHOP


def test_it_counts_a_repeated_click_of_one_link_as_one_unique_click(client, delivery, links):
    with time_machine.travel(T0 + timedelta(hours=1), tick=False) as traveller:
        client.get(links["shop"])
        traveller.shift(timedelta(seconds=1))
        client.get(links["shop"])
        traveller.shift(timedelta(minutes=10))
        client.get(links["blog"])
    delivery.refresh_from_db()
    assert delivery.click_count == 3
    assert [e["url"] for e in _events("email_clicked")] == [SHOP, BLOG]


def test_it_flags_clicks_right_after_sending_as_a_scanner(client, delivery, links):
    with time_machine.travel(T0 + timedelta(seconds=CLICK_SCANNER_SECONDS - 5), tick=False):
        response = client.get(links["shop"])
    assert response["Location"] == SHOP
    delivery.refresh_from_db()
    assert (delivery.clicked_at, delivery.click_count) == (None, 0)
    assert [e["machine"] for e in _events("email_clicked")] == [True]
    assert DeliveryClick.objects.get().machine


def test_it_flags_a_burst_of_clicks_on_different_links_including_the_first(client, delivery, links):
    with time_machine.travel(T0 + timedelta(hours=3), tick=False) as traveller:
        client.get(links["shop"])
        traveller.shift(timedelta(seconds=1))
        client.get(links["blog"])
    delivery.refresh_from_db()
    assert (delivery.clicked_at, delivery.click_count) == (None, 0)
    assert list(DeliveryClick.objects.order_by("at").values_list("machine", flat=True)) == [
        True,
        True,
    ]
    # The first click's event was recorded before the burst showed (see tracking).
    assert [e["machine"] for e in _events("email_clicked")] == [False, True]


def test_it_counts_clicks_on_different_links_minutes_apart_as_human(client, delivery, links):
    with time_machine.travel(T0 + timedelta(hours=3), tick=False) as traveller:
        client.get(links["shop"])
        traveller.shift(timedelta(minutes=2))
        client.get(links["blog"])
    delivery.refresh_from_db()
    assert (delivery.clicked_at, delivery.click_count) == (T0 + timedelta(hours=3), 2)


def test_it_refuses_a_link_of_another_variant(client, delivery):
    other = Message.objects.get(key="m").variants.get(key="B")
    [foreign] = links_register(variant_id=other.pk, urls=["https://evil.example/"])
    response = client.get(_path(click_url(delivery.pk, foreign)))
    assert response.status_code == 404
    assert not DeliveryClick.objects.exists()


def test_a_click_takes_as_many_queries_after_many_clicks_as_the_first(client, delivery):
    urls = [f"https://shop.example.com/p/{n}" for n in range(11)]
    paths = [
        _path(click_url(delivery.pk, index))
        for index in links_register(variant_id=delivery.variant_id, urls=urls)
    ]
    counts = []
    with time_machine.travel(T0 + timedelta(hours=1), tick=False) as traveller:
        for path in paths:
            traveller.shift(timedelta(minutes=1))
            with CaptureQueriesContext(connection) as queries:
                client.get(path)
            counts.append(len(queries))
    assert counts[0] == counts[-1] <= 16
    delivery.refresh_from_db()
    assert delivery.click_count == 11


# --- Bad links ----------------------------------------------------------------


def _bad_links(delivery: Delivery, link_id: int) -> list[tuple[str, str]]:
    """(method, path) of links that must all get the same answer."""
    signature_of = token_make(Purpose.OPEN, delivery.pk)
    tampered = signature_of[:-1] + ("A" if signature_of[-1] != "A" else "B")
    other_key = signing.Signer(key="not-our-secret", salt="ladder.tracking.unsubscribe")
    confirm = signing.dumps({"c": delivery.customer_id, "t": "email_marketing"}, salt=CONFIRM_SALT)
    return [
        ("get", f"/t/o/{tampered}.gif"),
        ("get", "/t/o/garbage.gif"),
        ("get", f"/t/o/{token_make(Purpose.UNSUBSCRIBE, delivery.pk)}.gif"),
        ("get", f"/t/o/{token_make(Purpose.OPEN, 999_999)}.gif"),
        ("get", f"/t/c/{token_make(Purpose.OPEN, delivery.pk)}/{link_id}"),
        ("get", f"/t/c/{token_make(Purpose.CLICK, delivery.pk)}/999999"),
        ("get", f"/t/c/{token_make(Purpose.CLICK, 999_999)}/{link_id}"),
        ("get", f"/t/c/{token_make(Purpose.UNSUBSCRIBE, delivery.pk)}/{link_id}"),
        ("get", f"/t/u/{token_make(Purpose.OPEN, delivery.pk)}"),
        ("post", f"/t/u/{token_make(Purpose.CLICK, delivery.pk)}"),
        ("post", f"/t/u/{other_key.sign_object([delivery.pk])}"),
        ("get", f"/t/u/{confirm}"),
        ("get", f"/t/p/{token_make(Purpose.UNSUBSCRIBE, delivery.customer_id)}"),
        ("get", f"/t/p/{signing.Signer(salt='ladder.tracking.preferences').sign('1')}"),
    ]


def test_it_answers_every_bad_link_with_one_identical_page(client, delivery, links):
    [link_id] = links_register(variant_id=delivery.variant_id, urls=[SHOP])
    responses = [getattr(client, m)(path) for m, path in _bad_links(delivery, link_id)]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert delivery.customer.email.encode() not in responses[0].content
    assert not Event.objects.exists()


def test_it_answers_links_of_an_erased_customer_like_bad_links(client, delivery, links):
    customer = delivery.customer
    bad = client.get("/t/o/garbage.gif")
    customer_erase(customer=customer)
    responses = [
        client.get(_path(open_pixel_url(delivery.pk))),
        client.get(links["shop"]),
        client.get(_path(unsubscribe_url(delivery.pk))),
        client.post(_path(unsubscribe_url(delivery.pk)), {"List-Unsubscribe": "One-Click"}),
        client.get(_path(preferences_url(customer.pk))),
    ]
    assert {r.status_code for r in responses} == {404}
    assert {r.content for r in responses} == {bad.content}
    assert not Event.objects.exists()


# --- Links and URLs -------------------------------------------------------------


def test_it_gives_a_registered_url_the_same_index_again(delivery):
    first = links_register(variant_id=delivery.variant_id, urls=[SHOP, BLOG, SHOP])
    again = links_register(variant_id=delivery.variant_id, urls=[BLOG, "https://new.example/"])
    assert first[0] == first[2] != first[1]
    assert again[0] == first[1]
    assert VariantLink.objects.count() == 3


def test_it_registers_a_batch_of_links_in_two_queries(delivery, django_assert_num_queries):
    urls = [f"https://shop.example.com/p/{n}" for n in range(50)]
    with django_assert_num_queries(2):
        indexes = links_register(variant_id=delivery.variant_id, urls=urls)
    assert len(set(indexes)) == 50


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "mailto:a@example.com", "/relative", "https:no-host"]
)
def test_it_refuses_to_register_what_is_not_an_http_link(delivery, url):
    with pytest.raises(ValueError, match="not an absolute http"):
        links_register(variant_id=delivery.variant_id, urls=[SHOP, url])
    assert not VariantLink.objects.exists()


def test_its_urls_are_absolute_and_lead_to_their_endpoints(delivery):
    assert resolve(_path(open_pixel_url(delivery.pk))).url_name == "open"
    assert _path(open_pixel_url(delivery.pk)).endswith(".gif")
    assert resolve(_path(click_url(delivery.pk, 1))).url_name == "click"
    assert resolve(_path(unsubscribe_url(delivery.pk))).url_name == "unsubscribe"
    assert resolve(_path(preferences_url(delivery.customer_id))).url_name == "preferences"


def test_it_gives_the_headers_rfc_8058_asks_for(delivery, settings):
    settings.LADDER_UNSUBSCRIBE_MAILBOX = "leave@example.com"
    headers = list_unsubscribe_headers(delivery.pk)
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https == f"<{unsubscribe_url(delivery.pk)}>"
    assert mailto.startswith("<mailto:leave@example.com?subject=unsubscribe-")
    token = mailto.removesuffix(">").rpartition("unsubscribe-")[2]
    assert token_read(Purpose.UNSUBSCRIBE, token) == (delivery.pk,)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("purpose", list(Purpose))
def test_tokens_are_exactly_what_djangos_signer_makes(purpose):
    from django.core import signing

    from campaigns.tokens import ARITY, SALTS

    ids = [123456789, 42][: ARITY[purpose]]
    if purpose == Purpose.PREFERENCES:
        expected = signing.TimestampSigner(salt=SALTS[purpose]).sign_object(ids)
    else:
        expected = signing.Signer(salt=SALTS[purpose]).sign_object(ids)
    assert token_make(purpose, *ids) == expected
    assert token_read(purpose, token_make(purpose, *ids)) == tuple(ids)


def test_a_rotated_secret_still_reads_old_tokens(settings):
    old = token_make(Purpose.UNSUBSCRIBE, 7)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-that-is-long-enough-for-the-tests-0123456789"
    assert token_make(Purpose.UNSUBSCRIBE, 7) != old
    assert token_read(Purpose.UNSUBSCRIBE, old) == (7,)
