"""The analyst's pages: a journey's funnel and experiments, the ladder over time.

A separate app because these reports read every other app (customers,
journeys, campaigns), and ``customers`` may import neither of the others. It
holds no data of its own: figures come from ``journeys.selectors``,
``campaigns.analysis`` and ``customers.lifecycle.history``; this app puts them
on admin pages, in CSV and JSON, and in charts (``reports.charts``).
"""
