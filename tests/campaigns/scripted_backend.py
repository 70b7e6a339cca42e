"""anymail's test backend, told by recipient address how the provider answers.

anymail's own test backend answers "sent", or whatever a message's
``anymail_test_response`` says; dispatch builds its messages itself, so this
subclass picks the response from the recipient instead. Addresses containing:

- ``throttle``: HTTP 429 with ``Retry-After: 120``;
- ``outage``: HTTP 503;
- ``invalid``: the provider says the address is invalid;
- ``refused``: HTTP 422 (a permanent API error);
- ``quick``: accepted, and the provider's "delivered" webhook lands before
  the send call returns (as it can, from another process).

It also notes which backend instance each send used, to show one per batch,
and calls each function in ``ON_SEND`` with every message just before its send.
"""

import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailRequestsAPIError
from anymail.message import AnymailRecipientStatus

OPENED = []
ON_SEND = []


def _http_error(status: int, headers: dict | None = None) -> AnymailRequestsAPIError:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    response._content = b'{"Message": "scripted"}'
    return AnymailRequestsAPIError("scripted failure", status_code=status, response=response)


class EmailBackend(AnymailTestBackend):
    def open(self):
        OPENED.append(id(self))
        return super().open()

    def post_to_esp(self, payload, message):
        for watch in ON_SEND:
            watch(message)
        address = message.to[0]
        if "throttle" in address:
            message.anymail_test_response = _http_error(429, {"Retry-After": "120"})
        elif "outage" in address:
            message.anymail_test_response = _http_error(503)
        elif "refused" in address:
            message.anymail_test_response = _http_error(422)
        elif "quick" in address:
            from campaigns.models import Delivery

            delivery_id = int(message.metadata["delivery_id"])
            Delivery.objects.filter(pk=delivery_id).update(status=Delivery.Status.DELIVERED)
        elif "invalid" in address:
            email = payload.recipient_emails[0]
            message.anymail_test_response = {
                "recipient_status": {email: AnymailRecipientStatus(None, "invalid")}
            }
        return super().post_to_esp(payload, message)
