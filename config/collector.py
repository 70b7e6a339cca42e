"""The garbage collector in processes that render and send for a long time.

Rendering and dispatch allocate many short-lived containers (contexts, Jinja
frames, rows), so under Python's default young-generation threshold (700 new
containers) the collector ran about fifty times per thousand emails, each
time over everything the process held. Two settings, made once start-up is
over, take it out of the way:

* ``gc.freeze()`` moves what start-up loaded (Django, the apps, their
  modules) where the collector never looks: its share of a batch delivery
  worker fell from ~34 to ~11 µs of CPU per email (bench/delivery_profile.py).
* A young threshold of 50,000: a batch's live containers stay below it, so
  they are freed by reference counting when the batch ends without ever
  being traversed. In the delivery profile the collector then ran no time
  at all in 18,476 emails, against 914 runs and 8-10 µs per email at 700.
  Garbage in reference cycles (an exception's traceback, say) waits for at
  most that many new containers, a few megabytes, before it is collected.
"""

import gc

#: Net new containers before a young collection (Python's default is 700).
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Freeze what start-up loaded and raise the young threshold; call once, after start-up."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
