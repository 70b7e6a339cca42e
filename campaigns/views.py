"""The endpoints behind the links in every email: open pixel, click redirect,
unsubscribe and preference centre.

Every bad link (tampered, made for another endpoint, expired, naming a
delivery that is gone or a customer who was erased) gets the same 404 page,
so trying tokens tells nobody anything.
"""

import base64

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotFound,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from campaigns.models import Delivery
from campaigns.tokens import Purpose, TokenInvalid, token_make, token_read
from campaigns.tracking import (
    Visitor,
    customer_for_preferences,
    delivery_click_record,
    delivery_for_tracking,
    delivery_open_record,
    delivery_unsubscribe,
    link_for_click,
    preferences_page,
    preferences_update,
    unsubscribe_state,
)

#: A transparent 1x1 GIF (42 bytes), the smallest image every mail client shows.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _not_found() -> HttpResponse:
    return HttpResponseNotFound(render_to_string("campaigns/link_invalid.html"))


def _visitor(request: HttpRequest) -> Visitor:
    return Visitor(
        ip_address=request.META.get("REMOTE_ADDR"),
        user_agent=request.headers.get("User-Agent", "")[:1000],
    )


def _delivery(purpose: Purpose, token: str) -> Delivery | None:
    try:
        (delivery_id,) = token_read(purpose, token)
    except TokenInvalid:
        return None
    return delivery_for_tracking(delivery_id)


@require_safe
def open_view(request: HttpRequest, token: str) -> HttpResponse:
    """The pixel. ``no-store`` so that every open reaches us, not a cache."""
    delivery = _delivery(Purpose.OPEN, token)
    if delivery is None:
        return _not_found()
    # HEAD asks whether the image exists; nobody saw anything.
    if request.method == "GET":
        delivery_open_record(delivery=delivery)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def click_view(request: HttpRequest, token: str, link_id: int) -> HttpResponse:
    """Redirect to the link the token names, as stored for the delivery's
    variant. The query string is never read: no one can borrow the redirect."""
    try:
        (delivery_id,) = token_read(Purpose.CLICK, token)
    except TokenInvalid:
        return _not_found()
    delivery = delivery_for_tracking(delivery_id)
    link = link_for_click(delivery=delivery, link_id=link_id) if delivery else None
    if delivery is None or link is None:
        return _not_found()
    # Link checkers send HEAD; a browser following a link sends GET.
    if request.method == "GET":
        delivery_click_record(delivery=delivery, link=link)
    response = HttpResponseRedirect(link.url)
    response["Cache-Control"] = "no-store"
    return response


# RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie
# and no CSRF token. Nothing is lost by exempting this view: a forged form
# cannot know the signed token in the URL, which is all that names the customer.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the choice and changes nothing, since mail scanners follow
    every link; POST (a button on the page, or a mail client's one-click
    request) unsubscribes. Posting again is harmless."""
    delivery = _delivery(Purpose.UNSUBSCRIBE, token)
    if delivery is None:
        return _not_found()
    if request.method == "POST":
        delivery_unsubscribe(
            delivery=delivery,
            everything=request.POST.get("scope") == "all",
            one_click=request.POST.get("List-Unsubscribe") == "One-Click",
            visitor=_visitor(request),
        )
    customer = delivery.customer
    context = {
        "customer": customer,
        "topic": delivery.message.topic,
        "preferences_path": reverse(
            "tracking:preferences", args=[token_make(Purpose.PREFERENCES, customer.pk)]
        ),
        **unsubscribe_state(delivery),
    }
    return render(request, "campaigns/unsubscribe.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest, token: str) -> HttpResponse:
    """Each topic with its status; the form grants or withdraws them. An
    ordinary browser form, so it keeps Django's CSRF protection."""
    try:
        (customer_id,) = token_read(Purpose.PREFERENCES, token)
    except TokenInvalid:
        return _not_found()
    customer = customer_for_preferences(customer_id)
    if customer is None:
        return _not_found()
    saved = request.method == "POST"
    if saved:
        preferences_update(
            customer=customer, wanted=set(request.POST.getlist("topic")), visitor=_visitor(request)
        )
    context = {"customer": customer, "saved": saved, **preferences_page(customer)}
    return render(request, "campaigns/preferences.html", context)
