"""Where the demo's time goes: CPU seconds by what they were spent on.

``demo -v 2`` prints it and the HTML report shows it. Process CPU time, not
wall-clock time, so that other programs on the machine do not blur the
figures.
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    def __init__(self) -> None:
        #: name -> [calls, CPU seconds]
        self.spent: dict[str, list] = defaultdict(lambda: [0, 0.0])

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        began = time.process_time()
        try:
            yield
        finally:
            entry = self.spent[name]
            entry[0] += 1
            entry[1] += time.process_time() - began

    def rows(self) -> list[tuple[str, int, float]]:
        """(what, calls, CPU seconds), most expensive first."""
        return sorted(
            ((name, calls, seconds) for name, (calls, seconds) in self.spent.items()),
            key=lambda row: -row[2],
        )
