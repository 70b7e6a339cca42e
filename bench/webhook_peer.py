"""The webhook scenario's peer: anymail's Postmark endpoint with nobody listening.

The same gunicorn, URL, secret and payloads as Ladder's, but Ladder's
tracking receiver is disconnected, so a request is what anymail alone does
with it: check the basic auth, parse the JSON, build the normalized event,
send a signal nobody receives, answer 200. Ladder's rate as a share of this
one is what its own handling costs on top of the endpoint it sits behind.

    gunicorn bench.webhook_peer
"""

from anymail.signals import tracking

from config.wsgi import application

# CampaignsConfig.ready connected it when config.wsgi set Django up.
tracking.disconnect(dispatch_uid="ladder-webhook-tracking")

__all__ = ["application"]
