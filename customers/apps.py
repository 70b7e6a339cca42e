from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self) -> None:
        # Registers the ``__any`` lookup on every field (config.db.AnyOf)
        # before any query can use it.
        import config.db  # noqa: F401
