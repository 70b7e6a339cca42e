"""When and what next: journey definitions, the rule language, enrollment and the engine.

Built by the journey-engine issue; the app is registered now so that its
migrations and the dependency direction (journeys -> customers) start clean.
"""
