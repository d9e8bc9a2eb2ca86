from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from node.db import open_database


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    """A real SQLite database file, migrated with Alembic."""
    return open_database(f"sqlite:///{tmp_path / 'facenode.db'}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, storage_dir=tmp_path / "var",
                         destinations=[{"name": "PACS", "ae_title": "ORTHANC",
                                        "host": "127.0.0.1", "port": 4242}],
                         outbox_retry_initial_s=5, outbox_retry_max_s=60, outbox_max_attempts=4)
