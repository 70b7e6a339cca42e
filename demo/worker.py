"""A Celery worker for simulated time: tasks wait in an in-memory queue until the next tick.

With a broker, a request only *enqueues* what it sets off — the lifecycle
refresh after an open, the engine kick after a purchase — and workers run
it. The embedded default has no broker and runs each task inside the request
that sent it: right for a person clicking about, but over the demo's
thousands of simulated opens and clicks it would redo per request what a
busy worker does once per batch (a refresh of one customer costs nearly what
a refresh of a hundred does).

So the demo gives Celery a broker, kombu's in-memory transport, and at each
simulated tick runs what has queued up, the way a worker that wakes every
hour would: every ``lifecycle_refresh`` of the tick as one refresh of all
their customers (the task recomputes from stored events, so one call over
the union is exactly the calls one by one), and each task that takes no
arguments (engine kicks, dispatch) once, since each one processes whatever
is due. Other tasks run one by one, in order. The tasks are the real ones.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from celery import current_app as current_celery_app

from demo.stopwatch import Stopwatch

#: The task whose calls are merged into one, and how their arguments combine.
LIFECYCLE_REFRESH = "customers.tasks.lifecycle_refresh"
#: task -> a task that does all it does and more: while the second is waiting,
#: the first is dropped. Beat's engine tick routes new activity, enrolls and
#: advances, which is everything an activity kick asks for.
SUBSUMED_BY = {"journeys.tasks.activity_route": "journeys.tasks.engine_tick"}
#: A queue that keeps refilling itself has a bug; stop rather than spin.
MAX_RUNS = 1000


class TickWorker:
    """Collects the tasks the process sends and runs them when told to."""

    def __init__(self, stopwatch: Stopwatch | None = None) -> None:
        self.stopwatch = stopwatch or Stopwatch()
        self.app = Celery("ladder-demo", broker="memory://localhost//", set_as_current=False)
        self.app.conf.update(
            task_always_eager=False,
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry_on_startup=False,
        )
        self.ran = 0

    @contextmanager
    def collecting(self) -> Iterator["TickWorker"]:
        """Inside the block, every ``task.delay()`` of Ladder's shared tasks queues here."""
        previous = current_celery_app._get_current_object()
        self.app.set_current()
        self._purge()
        try:
            yield self
        finally:
            previous.set_current()

    def _purge(self) -> None:
        with self.app.connection_for_read() as connection:
            connection.SimpleQueue(self.app.conf.task_default_queue).clear()

    def _take(self) -> list[tuple[str, list, dict]]:
        taken = []
        with self.app.connection_for_read() as connection:
            queue = connection.SimpleQueue(self.app.conf.task_default_queue)
            while True:
                try:
                    message = queue.get_nowait()
                except queue.Empty:
                    break
                args, kwargs, _ = message.decode()
                taken.append((message.headers["task"], args, kwargs))
                message.ack()
            queue.close()
        return taken

    def run(self) -> int:
        """Run what is queued, and what that queues, until nothing is left; how many ran.

        Tasks queued while others run join those still waiting: a second engine
        kick while one is waiting is the same kick, and a refresh joins the
        waiting refresh. Refreshes go first, so that the engine, when it runs,
        routes the stage changes they record.
        """
        waiting: list[tuple[str, list, dict]] = []
        for ran in range(MAX_RUNS):
            waiting = _merged(waiting + self._take())
            if not waiting:
                self.ran += ran
                return ran
            name, args, kwargs = waiting.pop(0)
            with self.stopwatch.timing(f"task {name.rpartition('.')[2]}"):
                self.app.tasks[name](*args, **kwargs)
        raise RuntimeError(f"more than {MAX_RUNS} tasks in one tick: something keeps queueing")


def _merged(tasks: list[tuple[str, list, dict]]) -> list[tuple[str, list, dict]]:
    """One lifecycle refresh over all its calls, first; each task that takes no
    arguments once, where it first appeared, unless a task that does more is
    waiting too; anything else as it came."""
    merged: list[tuple[str, list, dict]] = []
    pairs: dict[tuple, None] = {}
    seen: set[str] = set()
    for name, args, kwargs in tasks:
        if name == LIFECYCLE_REFRESH:
            pairs.update(dict.fromkeys(tuple(pair) for pair in args[0]))
        elif args or kwargs:
            merged.append((name, args, kwargs))
        elif name not in seen:
            seen.add(name)
            merged.append((name, [], {}))
    merged = [task for task in merged if SUBSUMED_BY.get(task[0]) not in seen]
    if pairs:
        # (customer id, event name) pairs, as the task takes them.
        merged.insert(0, (LIFECYCLE_REFRESH, [[list(pair) for pair in pairs]], {}))
    return merged
