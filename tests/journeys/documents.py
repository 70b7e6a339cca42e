"""Journey documents for tests, built small and explicit."""

import copy


def welcome(**overrides) -> dict:
    """Stage prospect → email → wait 2 days → condition on purchase → split → email."""
    document = {
        "key": "welcome",
        "name": "Welcome series",
        "trigger": {"type": "stage_entered", "stage": "prospect"},
        "quiet_hours": None,
        "start": "hello",
        "steps": {
            "hello": {"type": "send_email", "message": "welcome-1", "next": "pause"},
            "pause": {"type": "wait", "duration": "2d", "next": "bought"},
            "bought": {
                "type": "condition",
                "rule": {"event": {"name": "purchase", "within_days": 30}},
                "then": "done",
                "else": "nudge",
            },
            "nudge": {
                "type": "split",
                "experiment": "welcome-nudge",
                "branches": [
                    {"name": "discount", "weight": 50, "next": "offer"},
                    {"name": "story", "weight": 50, "next": "story"},
                ],
            },
            "offer": {"type": "send_email", "message": "welcome-2", "next": "done"},
            "story": {"type": "send_email", "message": "welcome-2", "next": "done"},
            "done": {"type": "exit"},
        },
    }
    document.update(copy.deepcopy(overrides))
    return document


def steps(start: str, trigger: dict | None = None, **step_defs) -> dict:
    """A journey of just these steps."""
    return {
        "key": "t",
        "name": "Test journey",
        "trigger": trigger or {"type": "broadcast"},
        "quiet_hours": None,
        "start": start,
        "steps": step_defs,
    }
