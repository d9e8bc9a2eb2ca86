"""Where a round trip's time goes, read from the node's own database after the fact.

The node stamps (UTC, microseconds) when a photo arrived, when its series' job was queued,
started and finished, when the photo was analysed and when each result was sent; the bench
stamps when its C-STORE into Orthanc ended and when it saw the results in Orthanc. Between
them:

* ``orthanc_stable_route`` — C-STORE end → photo received by the node: Orthanc's StableAge,
  its stability check and the Lua rule's C-STORE to the node;
* ``node_stable`` — received → job queued: the node's ``stable_age_s`` and how often it looks;
* ``queue`` — queued → started (a job thread's wake-up);
* ``analysis`` — started → photo analysed and its results stored (in the worker process:
  decode, 2D analysis, overlays, SR + SCs + PDF; then the files and outbox rows);
* ``outbox_wait`` — analysed → the outbox round that sent the results began (the node
  stamps ``sent_at`` with the round's start);
* ``send_seen`` — that round's start → the bench saw every result in Orthanc: one
  association, a C-STORE per result, Orthanc storing them, the bench's 0.1 s poll.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

PHASES = ("orthanc_stable_route", "node_stable", "queue", "analysis", "outbox_wait", "send_seen")


def epoch(text: str | None) -> float:
    """Seconds since the epoch of one of the node's database stamps (naive UTC)."""
    if text is None:
        raise LookupError("the node has not stamped this step")
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def _last_sent(con: sqlite3.Connection, job_id: int, timeout_s: float = 10.0) -> str:
    """When the round that sent the job's last result began. Orthanc shows a result as soon as it stored it;
    the node stamps ``sent_at`` once the C-STORE response is back, a moment later."""
    deadline = time.monotonic() + timeout_s
    while True:
        unsent, last = con.execute(
            "SELECT sum(sent_at IS NULL), max(sent_at) FROM outbox WHERE job_id = ?", (job_id,)
        ).fetchone()
        if unsent == 0 and last is not None:
            return str(last)
        if time.monotonic() > deadline:
            raise LookupError(f"job {job_id}: results not all stamped sent")
        time.sleep(0.05)


def phases(database: Path, sop_uid: str, stored_at: float, seen_at: float) -> dict[str, float]:
    """Seconds per phase (see the module's doc) of the one-photo series of photo ``sop_uid``;
    ``stored_at`` and ``seen_at`` are the bench's ``time.time()`` stamps."""
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        series_uid, received, analysed = con.execute(
            "SELECT series_uid, received_at, analysed_at FROM instances WHERE sop_instance_uid = ?",
            (sop_uid,),
        ).fetchone()
        job_id, created, started = con.execute(
            "SELECT id, created_at, started_at FROM jobs WHERE series_uid = ? ORDER BY id",
            (series_uid,),
        ).fetchone()
        sent = _last_sent(con, job_id)
    finally:
        con.close()
    stamps = [stored_at, epoch(received), epoch(created), epoch(started), epoch(analysed),
              epoch(sent), seen_at]  # fmt: skip
    return {name: b - a for name, a, b in zip(PHASES, stamps[:-1], stamps[1:], strict=True)}
