"""What ``facenode status`` shows: received series, jobs (a running one with its stage and
progress: a 3D reconstruction takes minutes) and the outbox, from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from node.db import Instance, Job, JobKind, JobState, OutboxItem, OutboxState, Series

_KIND_LABEL = {JobKind.ANALYZE: "2D", JobKind.RECONSTRUCT: "3D"}


def collect(sessions: sessionmaker[Session], recent: int = 10) -> dict[str, Any]:
    with sessions() as s:

        def counts(col: Any) -> dict[str, int]:
            return {k: int(v) for k, v in s.execute(select(col, func.count()).group_by(col))}

        series = s.scalars(select(Series).order_by(Series.id.desc()).limit(recent)).all()
        jobs = s.scalars(select(Job).order_by(Job.id.desc()).limit(recent)).all()
        running = s.scalars(select(Job).where(Job.state == JobState.RUNNING).order_by(Job.id)).all()
        problems = s.scalars(
            select(OutboxItem)
            .where(OutboxItem.state != OutboxState.SENT, OutboxItem.attempts > 0)
            .order_by(OutboxItem.id.desc())
            .limit(recent)
        ).all()
        per_dest = {
            f"{d}:{st}": int(n)
            for d, st, n in s.execute(
                select(OutboxItem.destination, OutboxItem.state, func.count()).group_by(
                    OutboxItem.destination, OutboxItem.state
                )
            )
        }
        return {
            "instances": counts(Instance.role),
            "series": counts(Series.state),
            "jobs": counts(Job.state),
            "outbox": counts(OutboxItem.state),
            "outbox_by_destination": per_dest,
            "recent_series": [
                {
                    "series_uid": r.series_uid,
                    "modality": r.modality,
                    "instances": r.instance_count,
                    "state": r.state,
                    "last_received_at": r.last_received_at.isoformat(),
                }
                for r in series
            ],
            "running_jobs": [_job(j) for j in running],
            "recent_jobs": [_job(j) for j in jobs],
            "outbox_problems": [
                {
                    "id": o.id,
                    "destination": o.destination,
                    "kind": o.kind,
                    "state": o.state,
                    "attempts": o.attempts,
                    "next_attempt_at": o.next_attempt_at.isoformat(),
                    "last_error": o.last_error[:200],
                }
                for o in problems
            ],
        }


def _job(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "kind": _KIND_LABEL.get(j.kind, str(j.kind)),
        "series_uid": j.series_uid,
        "state": j.state,
        "attempts": j.attempts,
        "stage": j.stage,
        "progress": None if j.progress is None else round(100 * j.progress, 1),
        "started_at": j.started_at.isoformat() if j.started_at else None,
        "error": j.error[:200],
    }


def _doing(j: dict[str, Any]) -> str:
    if not j["stage"]:
        return ""
    pct = f" {j['progress']:.0f} %" if j["progress"] is not None else ""
    return f"  {j['stage']}{pct}"


def render(data: dict[str, Any]) -> str:
    """A short human-readable report."""

    def line(title: str, d: dict[str, int]) -> str:
        body = ", ".join(f"{k}={v}" for k, v in sorted(d.items())) or "none"
        return f"{title:<10} {body}"

    out = [
        line("instances", data["instances"]),
        line("series", data["series"]),
        line("jobs", data["jobs"]),
        line("outbox", data["outbox"]),
    ]
    if data["outbox_by_destination"]:
        out.append(line("  by dest", data["outbox_by_destination"]))
    if data["recent_series"]:
        out.append("\nrecent series:")
        for r in data["recent_series"]:
            out.append(
                f"  {r['series_uid']}  {r['modality']:<3} n={r['instances']:<3} "
                f"{r['state']:<9} last {r['last_received_at']}"
            )
    if data["running_jobs"]:
        out.append("\nrunning:")
        for j in data["running_jobs"]:
            out.append(
                f"  #{j['id']:<5} {j['kind']} series {j['series_uid']}{_doing(j)}"
                f"  since {j['started_at']}"
            )
    if data["recent_jobs"]:
        out.append("\nrecent jobs:")
        for j in data["recent_jobs"]:
            err = f"  error: {j['error']}" if j["error"] else ""
            out.append(
                f"  #{j['id']:<5} {j['kind']} {j['state']:<8} tries={j['attempts']}{_doing(j)}{err}"
            )
    if data["outbox_problems"]:
        out.append("\nresults waiting or dead:")
        for o in data["outbox_problems"]:
            out.append(
                f"  #{o['id']:<5} -> {o['destination']} {o['kind']} {o['state']} "
                f"tries={o['attempts']} next {o['next_attempt_at']}: {o['last_error']}"
            )
    return "\n".join(out)
