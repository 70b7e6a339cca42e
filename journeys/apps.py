from django.apps import AppConfig
from django.db import transaction


def _route_activity_soon() -> None:
    from journeys.tasks import activity_route

    activity_route.delay()


def _kick_engine(sender, **kwargs) -> None:
    # After commit: the worker must see the rows it is asked to route.
    transaction.on_commit(_route_activity_soon)


class JourneysConfig(AppConfig):
    name = "journeys"

    def ready(self) -> None:
        from customers.signals import activity_recorded, event_name_listeners
        from journeys.entry import listened_event_names

        activity_recorded.connect(_kick_engine, dispatch_uid="journeys-kick-engine")
        if listened_event_names not in event_name_listeners:
            event_name_listeners.append(listened_event_names)
