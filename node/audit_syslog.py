"""Audit rows to a syslog collector (an ATNA audit record repository, a SIEM): RFC 5424
messages over UDP (RFC 5426), one per row, the row as JSON in the message body.

``facenode audit --syslog HOST:PORT`` sends the rows it selected; the setting
``audit_syslog = "HOST:PORT"`` makes ``facenode serve`` forward every new row as it is
written (:class:`AuditForwarder` follows the table, so rows written by any process —
workers, ``facenode purge`` — go out too). UDP may lose a message; the table is the record.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from node.audit import as_dict, query
from node.db import AuditEvent, AuditRecord

log = logging.getLogger(__name__)

#: Facility 10 (security/authorization, as ATNA uses) × 8 + severity.
_FACILITY: Final = 10
_NOTICE: Final = 5
_WARNING: Final = 4
_WARNING_EVENTS: Final = frozenset(
    {AuditEvent.ASSOC_REJECTED, AuditEvent.ASSOC_ABORTED, AuditEvent.REFUSED,
     AuditEvent.QUARANTINED, AuditEvent.SEND_FAILED, AuditEvent.DEAD}
)
MAX_DATAGRAM: Final = 8192


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address) into its parts."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"syslog target must look like HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def syslog_message(row: AuditRecord, hostname: str | None = None) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST facenode PROCID MSGID - {json}``."""
    severity = _WARNING if row.event in _WARNING_EVENTS else _NOTICE
    host = (hostname or socket.gethostname() or "-").replace(" ", "_")[:255]
    stamp = row.at.isoformat(timespec="milliseconds") + "Z"
    body = json.dumps(as_dict(row), separators=(",", ":"), ensure_ascii=False)
    header = f"<{_FACILITY * 8 + severity}>1 {stamp} {host} facenode {os.getpid()} {row.event} - "
    return (header + body).encode("utf-8")[:MAX_DATAGRAM]


def send(rows: Iterable[AuditRecord], target: str) -> int:
    """Send ``rows`` to ``target`` (HOST:PORT); returns how many were sent."""
    host, port = parse_target(target)
    hostname = socket.gethostname()
    count = 0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for row in rows:
            sock.sendto(syslog_message(row, hostname), (host, port))
            count += 1
    return count


class AuditForwarder:
    """A thread that sends each audit row written after it started to ``target``."""

    def __init__(self, sessions: sessionmaker[Session], target: str, poll_s: float = 1.0):
        parse_target(target)  # a bad target fails at start, not in the thread
        self.sessions = sessions
        self.target = target
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with sessions() as session:
            self._last_id = int(session.scalar(select(func.max(AuditRecord.id))) or 0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="facenode-audit-syslog",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.forward_new()  # what was written while stopping

    def forward_new(self) -> int:
        """Send the rows written since the last call; returns how many."""
        try:
            rows = query(self.sessions, after_id=self._last_id, limit=1000)
            if rows:
                send(rows, self.target)
                self._last_id = rows[-1].id
            return len(rows)
        except Exception:
            log.exception("audit rows could not be forwarded to %s", self.target)
            return 0

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            while self.forward_new() >= 1000:
                pass
