"""dcmtk's storescu as a sender whose per-object answers we can count.

``storescu -v`` logs, for each file, ``Sending file: PATH`` and then either ``Received Store
Response (STATUS)`` — what the receiver told it — or ``Store Failed, file: PATH`` when the
association broke first (no answer). :func:`answers` reads that log back into one entry per
file; ``-nh`` keeps storescu going after a refused object, as a modality would.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

STORESCU = "/usr/bin/storescu"  # dcmtk's, not pynetdicom's console script in the venv

_SENDING = re.compile(r"^I: Sending file: (.+)$")
_RESPONSE = re.compile(r"^I: Received Store Response \((.+)\)$")


def start(files: Sequence[Path], port: int, called_ae: str, log: Path,
          calling_ae: str = "STORESCU") -> subprocess.Popen[bytes]:
    """Start sending ``files`` over one association; its verbose log goes to ``log``."""
    with open(log, "wb") as out:  # the child writes to its own copy
        return subprocess.Popen(
            [STORESCU, "-v", "-nh", "-aet", calling_ae, "-aec", called_ae,
             "127.0.0.1", str(port), *(str(f) for f in files)],
            stdout=subprocess.DEVNULL, stderr=out,
        )


def answers(log_text: str, files: Sequence[Path]) -> dict[Path, str | None]:
    """What storescu was told for each file: the status text (``Success``, ``Warning: …``,
    ``Error: …``), or None when no answer came (never sent, or the association broke)."""
    told: dict[Path, str | None] = {Path(f): None for f in files}
    current: Path | None = None
    for line in log_text.splitlines():
        if m := _SENDING.match(line.strip()):
            current = Path(m[1])
        elif (m := _RESPONSE.match(line.strip())) and current is not None:
            told[current] = m[1]
            current = None
    return told


def stored(status: str | None) -> bool:
    """A C-STORE status that tells the sender the object was stored (Success or Warning)."""
    return status is not None and (status == "Success" or status.startswith("Warning"))
