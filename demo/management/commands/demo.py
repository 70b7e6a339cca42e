"""``python manage.py demo``: seed the demo store and print a summary."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from tqdm import tqdm

from config import clock
from demo.report import summary_lines
from demo.seed import seed_customers

#: The demo's admin login, printed at the end; never created in production.
DEMO_ADMIN = ("admin", "ladder-demo")


class Command(BaseCommand):
    help = "Seed demo customers, consents and events through the services; print a summary."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=300, help="how many (default 300)")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, customers: int, no_progress: bool, **options):
        with tqdm(
            total=customers,
            desc="Seeding customers",
            unit="customer",
            disable=True if no_progress else None,
        ) as progress:
            result = seed_customers(count=customers, now=clock.now(), progress=progress)
        self.stdout.write(
            f"Created {result.customers_created:,} customers, recorded "
            f"{result.consent_changes:,} consent changes and {result.events_accepted:,} events "
            f"({result.events_duplicate:,} already there).\n"
        )
        self.stdout.write("\n".join(summary_lines()))
        self._admin_login()

    def _admin_login(self) -> None:
        if settings.PRODUCTION:
            return
        username, password = DEMO_ADMIN
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, "admin@ladder.localhost", password)
        self.stdout.write(
            f"\nAdmin: `make run`, then http://127.0.0.1:8000/admin/ "
            f"(user {username}, password {password})"
        )
