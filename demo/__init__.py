"""``make demo``: seed a believable store through the real services and report on it.

A separate app because the demo drives every other app, and ``customers`` may
import neither ``journeys`` nor ``campaigns``.
"""
