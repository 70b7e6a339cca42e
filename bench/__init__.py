"""Benchmarks that run Ladder as it runs in production: ``make bench``.

Each scenario builds its own PostgreSQL database, serves the app with a real
WSGI server and drives it from loopback, so a figure means what an operator
would see. ``docs/performance.md`` says what is measured and what bounds it.
"""
