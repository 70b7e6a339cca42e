"""What is said: messages, variants, rendering, delivery, tracking and A/B analysis.

Built by the delivery issue; the app is registered now so that its migrations
and the dependency direction (campaigns -> customers) start clean.
"""
