"""The default loyalty ladder: what a new installation starts with.

Plain data, so the migration that seeds the ``LadderRule`` rows and the loader
(which falls back to these for a stage whose row is missing) share it. Every
rule is a rule-language document (docs/rules.md); docs/lifecycle.md explains
each one.
"""

from customers.models import Stage

#: The consent topic the prospect rule reads.
MARKETING_TOPIC = "email_marketing"
#: Days of opens, clicks or site visits that make someone a prospect.
ENGAGED_WITHIN_DAYS = 90
#: Purchases within a year that make a buyer loyal …
LOYAL_ORDERS_PER_YEAR = 4
#: … or the customer lifetime value that does.
LOYAL_CLV = 1000
#: Days an advocacy event (referral, review, promoter NPS) keeps someone an advocate.
ADVOCACY_WITHIN_DAYS = 365
#: NPS answers from this score up are promoters.
NPS_PROMOTER = 9


def _recently(field: str) -> dict:
    return {"field": field, "op": "gte", "value": {"days_ago": ENGAGED_WITHIN_DAYS}}


def _advocacy(name: str, *where: dict) -> dict:
    event = {"name": name, "within_days": ADVOCACY_WITHIN_DAYS}
    if where:
        event["where"] = list(where)
    return {"event": event}


#: Stage -> (rule, description), lowest stage first; suspect is the floor and has no rule.
DEFAULT_LADDER = {
    Stage.PROSPECT: (
        {
            "all": [
                {"not": {"consent": {"topic": MARKETING_TOPIC, "status": "withdrawn"}}},
                {
                    "any": [
                        {"consent": {"topic": MARKETING_TOPIC, "status": "granted"}},
                        _recently("last_open_at"),
                        _recently("last_click_at"),
                        {"event": {"name": "page_view", "within_days": ENGAGED_WITHIN_DAYS}},
                    ]
                },
            ]
        },
        f"Has not withdrawn marketing consent, and granted it or opened, clicked or visited "
        f"the site in the last {ENGAGED_WITHIN_DAYS} days.",
    ),
    Stage.CUSTOMER: (
        {"field": "orders_count", "op": "gte", "value": 1},
        "Bought once.",
    ),
    Stage.REPEAT: (
        {"field": "orders_count", "op": "gte", "value": 2},
        "Bought twice or more.",
    ),
    Stage.LOYAL: (
        {
            "any": [
                {
                    "event": {
                        "name": "purchase",
                        "within_days": 365,
                        "count": {"gte": LOYAL_ORDERS_PER_YEAR},
                    }
                },
                {"field": "clv", "op": "gte", "value": LOYAL_CLV},
            ]
        },
        f"At least {LOYAL_ORDERS_PER_YEAR} purchases in the last 365 days, "
        f"or a CLV of {LOYAL_CLV} or more.",
    ),
    Stage.ADVOCATE: (
        {
            "any": [
                _advocacy("referral"),
                _advocacy("review"),
                _advocacy("nps", {"property": "score", "op": "gte", "value": NPS_PROMOTER}),
            ]
        },
        f"Referred someone, wrote a review or answered NPS with {NPS_PROMOTER} or 10, "
        f"in the last {ADVOCACY_WITHIN_DAYS} days.",
    ),
}
