"""Benchmarks: not collected by default (testpaths), run with ``pytest -m bench tests/bench``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bench: benchmark against third-party ground truth")
