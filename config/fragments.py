"""SQL written by hand, as fragments of text and parameters joined in order.

Where the ORM cannot say a statement (the rule language's conditions, the
lifecycle's set-based updates), it is built from fragments, each a piece of
SQL with its parameters, so placeholders and values never come apart.
"""

#: A piece of SQL and its parameters, in order.
Fragment = tuple[str, list]


def sql(*parts: str | Fragment) -> Fragment:
    """Concatenate raw SQL (str) and fragments, keeping parameters in order."""
    text, params = [], []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        else:
            text.append(part[0])
            params.extend(part[1])
    return "".join(text), params


def param(value: object) -> Fragment:
    """One value, as its placeholder."""
    return "%s", [value]
