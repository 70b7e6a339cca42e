"""Pages customers see: the double opt-in confirmation."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from customers.services.consent import ConfirmationInvalid, confirmation_target, consent_confirm


@require_http_methods(["GET", "POST"])
def consent_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing, so link scanners cannot confirm;
    POST (the button) grants the consent."""
    try:
        if request.method == "POST":
            customer, topic = consent_confirm(
                token=token,
                ip_address=request.META.get("REMOTE_ADDR"),
                user_agent=request.headers.get("User-Agent", "")[:1000],
            )
            state = "confirmed"
        else:
            customer, topic = confirmation_target(token)
            state = "ask"
    except ConfirmationInvalid as exc:
        return render(request, "customers/consent_confirm.html", {"error": str(exc)}, status=400)
    return render(
        request,
        "customers/consent_confirm.html",
        {"state": state, "customer": customer, "topic": topic},
    )
