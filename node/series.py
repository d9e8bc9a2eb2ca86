"""Series stability: a series is complete after ``stable_age_s`` without new instances,
however many associations it arrived over; then exactly one job is queued for it.

:func:`seconds_until_stable` tells the node's ticker when to look next, so a series is
queued when it becomes stable, not up to a polling interval later."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from node.db import Job, JobKind, JobState, Series, SeriesState, utcnow

log = logging.getLogger(__name__)


def queue_stable_series(
    sessions: sessionmaker[Session], stable_age_s: float, now: dt.datetime | None = None
) -> list[int]:
    """Queue one job per series that has been quiet long enough; returns the new job ids.

    A series that receives more photos after its job was queued goes back to "receiving"
    (:mod:`node.scp`) and gets a new job for the new photos only.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=stable_age_s)
    created: list[int] = []
    with sessions.begin() as session:
        stable = session.scalars(
            select(Series).where(
                Series.state == SeriesState.RECEIVING, Series.last_received_at <= cutoff
            )
        ).all()
        for series in stable:
            pending = session.scalar(
                select(Job.id).where(
                    Job.series_uid == series.series_uid,
                    Job.kind == JobKind.ANALYZE,
                    Job.state == JobState.QUEUED,
                )
            )
            series.state = SeriesState.QUEUED
            if pending is not None:
                continue  # the queued job has not started: it will take the new photos too
            job = Job(series_uid=series.series_uid, state=JobState.QUEUED, created_at=now)
            session.add(job)
            session.flush()
            created.append(job.id)
            log.info("series stable after %.0f s; queued job %d", stable_age_s, job.id)
    return created


def seconds_until_stable(
    sessions: sessionmaker[Session], stable_age_s: float, now: dt.datetime | None = None
) -> float | None:
    """Seconds until the quietest series still receiving becomes stable (0 if it is
    already); None when no series is receiving."""
    now = now or utcnow()
    with sessions() as session:
        oldest = session.scalar(
            select(func.min(Series.last_received_at)).where(Series.state == SeriesState.RECEIVING)
        )
    if oldest is None:
        return None
    due = oldest + dt.timedelta(seconds=stable_age_s)
    return max(0.0, (due - now).total_seconds())
