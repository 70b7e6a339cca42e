"""The lifecycle: the loyalty ladder, engagement, rates, CLV and lapsing.

Plain pieces the lifecycle services (``customers.services.lifecycle``) put
together: the ladder as data (``ladder``), the set-based metrics statement
(``metrics``), CLV's lifespan and segment CLV (``clv``), writing moves
(``moves``), and where email counts come from (``mail``). docs/lifecycle.md
describes the whole.
"""
