"""The HTTP API at /api/v1/: one NinjaAPI, and one shape for every error.

Every error answer is ``{"error": code, "message": text, "errors": [...]}``,
where each item of ``errors`` names the batch ``index`` (null for a single
item) and the ``field``, so a client can fix exactly what is wrong.
"""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from customers.api import router as customers_router
from customers.errors import InvalidInput, pydantic_message

#: Parts of a pydantic location that say where the data came from, not which field.
LOCATION_SOURCES = {"body", "query", "path", "payload", "header"}


class MalformedJSON(ValueError):
    pass


class JSONParser(Parser):
    """Like ninja's parser, but says where the JSON is broken."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            return json.loads(request.body)
        except json.JSONDecodeError as exc:
            raise MalformedJSON(
                f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except UnicodeDecodeError:
            raise MalformedJSON("The body is not valid UTF-8 JSON.") from None


api = NinjaAPI(
    title="Ladder API",
    version="1",
    description=(
        "Send customer profiles, consent and events to Ladder. Authenticate with "
        "`Authorization: Bearer <API key>`; keys are created in the admin."
    ),
    parser=JSONParser(),
    urls_namespace="api-v1",
)
api.add_router("/", customers_router)


def _error(request: HttpRequest, status: int, code: str, message: str, errors=()) -> HttpResponse:
    return api.create_response(
        request, {"error": code, "message": message, "errors": list(errors)}, status=status
    )


def _field_error(item: dict[str, Any]) -> dict[str, Any]:
    loc = list(item.get("loc", ()))
    index = None
    if len(loc) > 3 and loc[:3] == ["body", "payload", "events"] and isinstance(loc[3], int):
        index, loc = loc[3], loc[4:]
    field = ".".join(str(p) for p in loc if p not in LOCATION_SOURCES) or "body"
    return {"index": index, "field": field, "message": pydantic_message(item)}


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [_field_error(item) for item in exc.errors]
    return _error(
        request,
        422,
        "invalid_request",
        f"{len(errors)} problem(s) in the request; nothing was stored.",
        errors,
    )


@api.exception_handler(InvalidInput)
def _on_invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    errors = [{"index": e.index, "field": e.field, "message": e.message} for e in exc.errors]
    return _error(
        request,
        422,
        "invalid_request",
        f"{len(errors)} problem(s) in the request; nothing was stored.",
        errors,
    )


@api.exception_handler(AuthenticationError)
def _on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request,
        401,
        "unauthorized",
        "Send a valid API key as 'Authorization: Bearer <key>'; keys are created in the admin.",
    )


@api.exception_handler(HttpError)
def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, MalformedJSON):
        return _error(request, 400, "malformed_json", str(exc.__cause__))
    return _error(request, exc.status_code, "error", exc.message)


@api.exception_handler(RequestDataTooBig)
def _on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.LADDER_API_MAX_BODY_BYTES
    return _error(
        request,
        413,
        "body_too_large",
        f"The body is larger than {limit:,} bytes; send smaller batches.",
    )


@api.exception_handler(Http404)
def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", "No such customer or topic.")
