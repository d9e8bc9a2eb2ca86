"""Where every benchmark leaves its figures: one JSON file under ``bench-results/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path`` (folders made as needed), one trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
