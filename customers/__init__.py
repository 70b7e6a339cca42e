"""Who Ladder talks to: profiles, consent, suppression, events, stage and metrics."""
