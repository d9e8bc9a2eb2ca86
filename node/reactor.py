"""A race-free pause of a pynetdicom association's reactor, for the thread that sends.

pynetdicom runs a reactor thread per association that takes any complete DIMSE message off
the queue and, when it is not a request, drops it ("Received unexpected C-STORE service
message"). ``send_c_store`` pauses that reactor first: it clears ``_reactor_checkpoint`` and
waits until ``_is_paused`` is true. But the reactor sets ``_is_paused = True`` *before* it
waits on the checkpoint and back to False only *after* the wait returned, so a sender that
comes in between sees a stale True, sends, and the reactor — still running — steals the
C-STORE response. The sender then waits the whole DIMSE timeout for an answer that never
comes, aborts, and the result is sent again (seen twice in 5 minutes under load).

:func:`guard` replaces the association's checkpoint with a :class:`ReactorCheckpoint` that
knows when the reactor is really parked in its wait, and :meth:`ReactorCheckpoint.pause`
returns only then. pynetdicom's own pause that follows finds it paused; its ``set()`` at
the end of the operation lets the reactor go on as before.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class ReactorCheckpoint(threading.Event):
    """pynetdicom's reactor checkpoint (set: run, clear: pause) that also records when the
    reactor has entered its wait while cleared — that is, when it is parked."""

    def __init__(self) -> None:
        super().__init__()
        self.set()
        self.parked = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            self.parked.set()  # the reactor is about to block until the sender sets us
        return super().wait(timeout)

    def pause(self, assoc: Any, timeout: float = 30.0) -> bool:
        """Pause the reactor of ``assoc`` and return once it is parked (True); False when
        the reactor is no longer running (the association ended) or did not park in time —
        the caller's DIMSE call then fails on its own, as it would have."""
        self.parked.clear()
        self.clear()
        deadline = time.monotonic() + timeout
        while not self.parked.wait(0.05):
            if not assoc.is_alive() or not assoc.is_established or time.monotonic() > deadline:
                self.set()
                return False
        return True


def guard(assoc: Any) -> ReactorCheckpoint:
    """Install a :class:`ReactorCheckpoint` on an established association (the reactor
    looks the checkpoint up on every turn, so the swap takes effect at its next turn)."""
    checkpoint = ReactorCheckpoint()
    old = getattr(assoc, "_reactor_checkpoint", None)
    if not isinstance(old, threading.Event):  # pynetdicom changed: fail loudly, not subtly
        raise RuntimeError("pynetdicom's Association has no _reactor_checkpoint Event")
    assoc._reactor_checkpoint = checkpoint
    old.set()  # a reactor still waiting on the old one goes on to the new one
    return checkpoint
