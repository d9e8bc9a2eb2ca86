"""``facenode audit`` (query the audit trail, optionally export it to syslog) and
``facenode purge`` (retention); :func:`register` adds both to the CLI's subcommands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from config.settings import Settings
from node.db import AuditEvent


def parse_since(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; with a zone it is converted, without one it is UTC (the
    audit's own clock)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since must be an ISO 8601 date or date-time, got {text!r}"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _render(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no audit rows match"
    lines = []
    for r in rows:
        status = "" if r["status"] is None else f" 0x{r['status']:04X}"
        what = r["sop_instance_uid"] or "-"
        where = f" -> {r['destination']}" if r["destination"] else ""
        called = f" (called {r['called_ae']})" if r["called_ae"] else ""
        detail = f"  {r['detail']}" if r["detail"] else ""
        lines.append(f"{r['at']}  {r['event']:<14} {r['actor']}{called}  {what}{where}"
                     f"{status}{detail}")
    return "\n".join(lines)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from node.audit import as_dict, query
    from node.db import open_database

    rows = query(
        open_database(settings.db_url),
        since=args.since,
        events=[AuditEvent(e) for e in args.event or ()],
        sop_instance_uid=args.sop,
        limit=args.limit,
    )
    if args.syslog:
        from node.audit_syslog import send

        try:
            n = send(rows, args.syslog)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{n} audit row(s) sent to {args.syslog}", file=sys.stderr)
    data = [as_dict(r) for r in rows]
    print(json.dumps(data, indent=2) if args.json else _render(data))
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from node.db import open_database
    from node.purge import purge
    from node.storage import Storage

    report = purge(open_database(settings.db_url), Storage(settings.storage_dir),
                   args.older_than, dry_run=args.dry_run)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
    return 0


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"--older-than must be a number of days >= 0, got {text!r}"
        )
    return value


def register(sub: Any) -> None:
    """Add ``audit`` and ``purge`` to the CLI's subparsers."""
    a = sub.add_parser("audit", help="the audit trail: associations, objects received, "
                       "refused, quarantined, produced, sent, purged")
    a.add_argument("--since", type=parse_since, metavar="ISO",
                   help="only rows at or after this time (ISO 8601; UTC unless a zone is given)")
    a.add_argument("--event", action="append", choices=[e.value for e in AuditEvent],
                   metavar="EVENT", help="only this event type (repeatable): "
                   + ", ".join(e.value for e in AuditEvent))
    a.add_argument("--sop", metavar="UID", help="only rows about this SOP Instance UID")
    a.add_argument("--limit", type=int, metavar="N", help="at most N rows (oldest first)")
    a.add_argument("--json", action="store_true", help="a JSON array instead of lines")
    a.add_argument("--syslog", metavar="HOST:PORT",
                   help="also send the selected rows to a syslog collector (RFC 5424, UDP)")
    a.set_defaults(handler=cmd_audit)

    p = sub.add_parser("purge", help="delete delivered photos and results and quarantined "
                       "objects older than DAYS (the audit is kept)")
    p.add_argument("--older-than", type=_days, required=True, metavar="DAYS",
                   help="age in days (received / produced before now - DAYS); 0: everything")
    p.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    p.add_argument("--json", action="store_true", help="counts and sizes as JSON")
    p.set_defaults(handler=cmd_purge)
