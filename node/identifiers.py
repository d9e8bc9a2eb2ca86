"""Patient identifiers in the logs: name, ID and birth date appear in no log line unless the
``log_patient_identifiers`` setting is true.

Three layers, because a value can reach a log line in more ways than our own calls:

1. The node's log calls format an identifier only through :func:`describe_patient`, which
   gives nothing unless the setting allows it.
2. :class:`IdentifierFilter`, installed on the root handlers by the CLI
   (:func:`protect_logs`), redacts every patient name (whole and each component), ID and
   birth date the node has handled lately — from any logger (ours, pynetdicom's, pydicom's,
   SQLAlchemy's), in the message, its arguments and a traceback's text — so an identifier
   quoted by a third-party message or an exception does not leak either. The values come
   from :func:`remember`, called where a dataset enters the process (the SCP, the job, the
   sender, the ad-hoc analysis); the most recent :data:`MAX_VALUES` are kept.
3. pynetdicom's own switches ``LOG_REQUEST_IDENTIFIERS`` / ``LOG_RESPONSE_IDENTIFIERS``
   (which dump C-FIND / C-GET / C-MOVE identifier datasets) follow the setting. Its C-STORE
   and C-ECHO logging (INFO "Received Store Request", DEBUG the DIMSE summary: message ID,
   SOP Class, SOP Instance UID, priority, move originator) carries no patient attribute.

Values shorter than :data:`MIN_LENGTH` characters are not redacted (a one-digit patient ID
would otherwise blank every digit of every line; a whole name still is), and values
shorter than :data:`WHOLE_TOKEN_BELOW` only as whole tokens.

``tests/integration/test_identifier_logging.py`` runs a full round trip with every logger
at DEBUG and scans each line, with the setting false and true.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import MutableSequence
from typing import Any, Final

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

IDENTIFIER_KEYWORDS: Final = ("PatientName", "PatientID", "PatientBirthDate")
MIN_LENGTH: Final = 3
WHOLE_TOKEN_BELOW: Final = 6
MAX_VALUES: Final = 1024
REDACTED: Final = "[patient identifier]"


class _KnownValues:
    """The identifier values seen lately (case-folded), thread-safe, oldest forgotten first."""

    def __init__(self, limit: int = MAX_VALUES) -> None:
        self._limit = limit
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, values: list[str]) -> None:
        with self._lock:
            for v in values:
                key = v.strip().casefold()
                if len(key) < MIN_LENGTH:
                    continue
                self._values[key] = None
                self._values.move_to_end(key)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def redact(self, text: str) -> str:
        """``text`` with every known value replaced, case-insensitively: anywhere for values
        of :data:`WHOLE_TOKEN_BELOW` characters or more, else only as a whole token (so "Li"
        or "123" do not blank the inside of other words and numbers)."""
        folded = text.casefold()
        with self._lock:
            present = [v for v in self._values if v in folded]
        if not present:
            return text
        present.sort(key=len, reverse=True)  # "Doe^John" before "Doe"
        pattern = "|".join(
            re.escape(v) if len(v) >= WHOLE_TOKEN_BELOW else rf"(?<!\w){re.escape(v)}(?!\w)"
            for v in present
        )
        return re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)


_KNOWN = _KnownValues()


def identifier_values(ds: Dataset) -> list[str]:
    """Name (whole and each component), ID and birth date (as stored and as YYYY-MM-DD).

    Read from the elements' raw bytes where pydicom has not converted them yet: converting
    validates, and pydicom's validation messages may quote the value ("Invalid value for
    VR ...: '<value>'") before it is remembered. Multi-valued elements give each value.
    """
    out: list[str] = []
    for keyword in IDENTIFIER_KEYWORDS:
        for text in _texts(ds, keyword):
            for value in text.split("\\"):  # multi-valued: each value on its own
                value = value.strip(" \x00")
                if not value:
                    continue
                out.append(value)
                if keyword == "PatientName":
                    out.extend(p for p in re.split(r"[=^]", value) if p.strip())
                elif keyword == "PatientBirthDate" and len(value) == 8 and value.isdigit():
                    out.append(f"{value[:4]}-{value[4:6]}-{value[6:]}")
    return out


def _texts(ds: Dataset, keyword: str) -> list[str]:
    """The element's value as text, without pydicom converting (and validating) it."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return []
    value = ds.get_item(tag).value
    if isinstance(value, bytes):
        return list(dict.fromkeys((value.decode("utf-8", "replace"), value.decode("latin-1"))))
    if value is None:
        return []
    if isinstance(value, MutableSequence):  # MultiValue of converted values
        return ["\\".join(str(v) for v in value)]
    return [str(value)]  # str, PersonName, DA


def remember(ds: Dataset) -> None:
    """Note this dataset's patient identifiers so the filter redacts them. Never raises:
    a dataset too broken to read its patient module has nothing to remember."""
    try:
        values = identifier_values(ds)
    except Exception:  # malformed elements raise anything when first read
        return
    _KNOWN.add(values)


def forget_all() -> None:
    """Drop every remembered value (tests)."""
    _KNOWN.clear()


def describe_patient(ds: Dataset, allowed: bool) -> str:
    """``"patient NAME (ID X, born Y)"`` when ``allowed``, else an empty string."""
    if not allowed:
        return ""
    return (
        f"patient {ds.get('PatientName', '')} (ID {ds.get('PatientID', '')}, "
        f"born {ds.get('PatientBirthDate', '')})"
    )


class IdentifierFilter(logging.Filter):
    """Redacts remembered patient identifiers from every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: keep neither raw
            message = f"{record.msg} (log arguments withheld: they did not fit the format)"
            record.msg, record.args = message, None
        clean = _KNOWN.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _KNOWN.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = _KNOWN.redact(record.stack_info)
        return True


def protect_logs(allowed: bool, logger: logging.Logger | None = None) -> None:
    """Apply ``log_patient_identifiers`` to logging: unless ``allowed``, put an
    :class:`IdentifierFilter` on every handler of ``logger`` (default: the root logger,
    where the CLI's handlers are) — once — and turn pynetdicom's identifier dumps off;
    when ``allowed``, take such filters off and leave pynetdicom's dumps on."""
    from pynetdicom import _config

    _config.LOG_REQUEST_IDENTIFIERS = allowed
    _config.LOG_RESPONSE_IDENTIFIERS = allowed
    target = logger or logging.getLogger()
    for handler in target.handlers:
        ours: list[Any] = [f for f in handler.filters if isinstance(f, IdentifierFilter)]
        if allowed:
            for f in ours:
                handler.removeFilter(f)
        elif not ours:
            handler.addFilter(IdentifierFilter())


def redact(text: str) -> str:
    """``text`` with every remembered patient identifier replaced (for text that is kept,
    not logged: the audit trail's reasons)."""
    return _KNOWN.redact(text)
