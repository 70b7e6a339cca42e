"""The demo store, Leaf & Kettle: its products, its shop URLs and its customers' names.

The example messages (examples/messages/) link to these product pages; the
simulated customers buy what the page they click through to shows.
"""

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

SHOP_URL = "https://shop.leafandkettle.example"
CURRENCY = "EUR"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: Decimal
    #: How often it is bought when nobody recommended anything (relative).
    popularity: int

    @property
    def url(self) -> str:
        return f"{SHOP_URL}/p/{self.sku}"


PRODUCTS = (
    Product("tea-sampler", "Tea sampler", Decimal("19.90"), 6),
    Product("sencha", "Organic sencha", Decimal("12.50"), 8),
    Product("earl-grey", "Earl Grey", Decimal("9.90"), 9),
    Product("teapot", "Cast-iron teapot", Decimal("49.00"), 3),
    Product("matcha-kit", "Matcha kit", Decimal("34.50"), 3),
    Product("mug-set", "Stoneware mug set", Decimal("24.00"), 4),
    Product("subscription-box", "Monthly tea box", Decimal("29.00"), 2),
)
BY_SKU = {product.sku: product for product in PRODUCTS}
#: The shop's referral page: a click there may become a referral.
REFERRAL_PATH = "/refer"


def product_at(url: str) -> Product | None:
    """The product a shop URL shows, if it is a product page."""
    parts = urlsplit(url)
    if not url.startswith(SHOP_URL) or not parts.path.startswith("/p/"):
        return None
    return BY_SKU.get(parts.path.removeprefix("/p/"))


FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas",
    "Kenji", "Lena", "Mateo", "Noor", "Oskar", "Priya", "Quentin", "Rosa", "Sami", "Tess",
    "Umar", "Vera", "Wen", "Yara", "Zoe", "Aoife", "Bruno", "Camille", "Diego", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Baptiste", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hughes",
    "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Peters",
    "Rossi", "Schmidt", "Tanaka", "Varga", "Weber", "Yilmaz", "Murphy", "Novak",
)  # fmt: skip
TIME_ZONES = (
    "Europe/Paris", "Europe/London", "Europe/Berlin", "Europe/Madrid", "Europe/Dublin",
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo",
    "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip
LOCALES = ("en", "en-GB", "en-US", "fr", "de", "es", "ja", "pt-BR")
#: The wording of the sign-up form's consent box, kept as proof with every consent.
CONSENT_TEXT = "Yes, email me news, offers and recommendations. I can unsubscribe at any time."
CONSENT_TEXT_VERSION = "signup-2025-01"
