"""Django email backends of Ladder's own, for sending paths anymail does not cover.

``postmark_batch`` sends many distinct messages per HTTP call (Postmark's
``/email/batch``); see docs/backends.md for when to choose it.
"""
