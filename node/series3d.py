"""When a series becomes a 3D job: the photogrammetry trigger.

After a series' 2D job (:func:`node.pipeline.run_job`) the node asks :func:`queue_if_wanted`
whether the series, as analysed so far, is a multi-view series of one face; if so it queues
one ``reconstruct_series`` job (:class:`node.db.JobKind`), run by the 3D job threads
(:func:`node.pipeline3d.run_reconstruction_job`) on every photo of the series.

The rule (:func:`decide`, settings ``reconstruction_*``):

* at least ``reconstruction_min_views`` of the series' photos have a face (0: 3D is off);
* and they look at the face from different directions — the Series Description matches
  ``reconstruction_series_pattern`` (the photographer's protocol says so), or their View
  Code Sequences name two or more views, or the head yaw the 2D analysis measured spans
  ``reconstruction_min_yaw_span_deg`` degrees.

A series that gets more photos after its 3D job ran is reconstructed again with all of them;
while a 3D job of the series waits in the queue, no second one is added (it will see the new
photos when it starts).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from node.db import Instance, InstanceRole, Job, JobKind, JobState, utcnow

log = logging.getLogger(__name__)

#: What the 3D job needs installed (the ``3d`` extra).
REQUIRED_MODULES = ("pycolmap", "open3d")


@dataclass(frozen=True)
class PhotoFacts:
    """What the trigger knows of one analysed photo of the series."""

    face_found: bool
    yaw_deg: float | None = None
    view_code: str = ""  # the first View Code Sequence item's value, "" when absent
    series_description: str = ""


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str


def decide(
    photos: Sequence[PhotoFacts], min_views: int, pattern: str, min_yaw_span_deg: float
) -> Decision:
    """Whether ``photos`` (one series) make a 3D job, and why (module docstring)."""
    if min_views <= 0:
        return Decision(False, "3D reconstruction is off (reconstruction_min_views = 0)")
    faces = [p for p in photos if p.face_found]
    if len(faces) < min_views:
        return Decision(
            False, f"{len(faces)} photo(s) with a face; a 3D reconstruction needs {min_views}"
        )
    described = next(
        (p.series_description for p in faces if re.search(pattern, p.series_description)), None
    )
    if described is not None:
        return Decision(True, f"{len(faces)} photos; Series Description {described!r}")
    views = sorted({p.view_code for p in faces if p.view_code})
    if len(views) >= 2:
        return Decision(True, f"{len(faces)} photos; {len(views)} views in View Code Sequence")
    yaws = [p.yaw_deg for p in faces if p.yaw_deg is not None]
    span = max(yaws) - min(yaws) if yaws else 0.0
    if span >= min_yaw_span_deg:
        return Decision(True, f"{len(faces)} photos; head yaw spans {span:.0f}°")
    return Decision(
        False,
        f"{len(faces)} photos of one view (head yaw spans {span:.0f}°, "
        f"{min_yaw_span_deg:g}° needed; no multi-view Series Description or View Codes)",
    )


def installed() -> bool:
    """Whether the 3D pipeline's libraries are installed (found, not imported)."""
    return all(importlib.util.find_spec(m) is not None for m in REQUIRED_MODULES)


def queue_if_wanted(
    sessions: sessionmaker[Session], settings: Settings, series_uid: str
) -> int | None:
    """Queue a 3D job for the series when :func:`decide` says so; the job's id, or None."""
    if settings.reconstruction_min_views <= 0:
        return None
    facts = series_facts(sessions, series_uid)
    decision = decide(
        facts,
        settings.reconstruction_min_views,
        settings.reconstruction_series_pattern,
        settings.reconstruction_min_yaw_span_deg,
    )
    if not decision.run:
        log.debug("series not reconstructed in 3D: %s", decision.reason)
        return None
    if not installed():
        log.warning(
            "series qualifies for 3D (%s) but %s are not installed (the '3d' extra)",
            decision.reason, " and ".join(REQUIRED_MODULES),
        )  # fmt: skip
        return None
    with sessions.begin() as session:
        waiting = session.scalar(
            select(Job.id).where(
                Job.series_uid == series_uid,
                Job.kind == JobKind.RECONSTRUCT,
                Job.state == JobState.QUEUED,
            )
        )
        if waiting is not None:
            return None  # it has not started: it will take the new photos too
        job = Job(series_uid=series_uid, kind=JobKind.RECONSTRUCT, state=JobState.QUEUED,
                  created_at=utcnow())  # fmt: skip
        session.add(job)
        session.flush()
        job_id = job.id
    log.info("series queued for 3D reconstruction as job %d: %s", job_id, decision.reason)
    return job_id


def series_facts(sessions: sessionmaker[Session], series_uid: str) -> list[PhotoFacts]:
    """The analysed photos of the series: face and yaw from the 2D jobs' summaries, view
    code and Series Description from the stored headers."""
    with sessions() as session:
        photos = session.execute(
            select(Instance.sop_instance_uid, Instance.path).where(
                Instance.series_uid == series_uid,
                Instance.role == InstanceRole.PHOTO,
                Instance.analysed_at.is_not(None),
            )
        ).all()
        summaries = session.scalars(
            select(Job.summary).where(Job.series_uid == series_uid, Job.kind == JobKind.ANALYZE)
        ).all()
    analysed = _summaries_by_uid(summaries)
    out = []
    for uid, path in photos:
        summary = analysed.get(uid, {})
        view, description = _header_facts(path)
        out.append(
            PhotoFacts(
                face_found=bool(summary.get("face_found")),
                yaw_deg=_yaw(summary),
                view_code=view,
                series_description=description,
            )
        )
    return out


def _summaries_by_uid(summaries: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for text in summaries:
        try:
            rows = json.loads(text) if text else []
        except ValueError:
            continue
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and "sop_instance_uid" in row:
                out[str(row["sop_instance_uid"])] = row
    return out


def _yaw(summary: dict[str, Any]) -> float | None:
    pose = (summary.get("quality") or {}).get("pose") or {}
    yaw = pose.get("yaw")
    return float(yaw) if isinstance(yaw, int | float) else None


def _header_facts(path: str) -> tuple[str, str]:
    """(first View Code value, Series Description) of a stored photo; empty when unread."""
    try:
        ds = dcmread(path, stop_before_pixels=True,
                     specific_tags=["ViewCodeSequence", "SeriesDescription"])  # fmt: skip
    except Exception:  # a file that went away or is unreadable has no say in the rule
        return "", ""
    seq = ds.get("ViewCodeSequence") or []
    view = str(seq[0].get("CodeValue", "")) if len(seq) else ""
    return view, str(ds.get("SeriesDescription", ""))
