"""The node as a subprocess (``facenode serve``), configured by environment variables.

The node runs in its own session (process group), so that :meth:`NodeProcess.kill` can
SIGKILL it the way a power cut, an OOM-killed container or ``docker kill`` would: the node
at once, with no chance to clean up, and with it its worker processes (in sessions of their
own, :mod:`node.worker`; ``PR_SET_PDEATHSIG`` kills them as the node dies). :meth:`NodeProcess.start`
again on the same ``root`` is a restart on the same storage and database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class NodeProcess:
    root: Path
    port: int = field(default_factory=free_port)
    ae_title: str = "FACENODE"
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACENODE_")}
        env.update(
            FACENODE_AE_TITLE=self.ae_title,
            FACENODE_PORT=str(self.port),
            FACENODE_BIND_ADDRESS="127.0.0.1",
            FACENODE_STORAGE_DIR=str(self.root / "var"),
            FACENODE_STABLE_AGE_S="1",
            FACENODE_WORKERS="1",
            FACENODE_OUTBOX_RETRY_INITIAL_S="1",
            FACENODE_OUTBOX_RETRY_MAX_S="2",
            FACENODE_MIN_FREE_DISK_MB="0",
        )
        env.update(self.env_extra)
        return env

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "node.log", "ab") as log:  # the child writes to its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "serve"],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(self.port, 120)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the node and everything in its process group; wait until it is gone."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # already gone
            self.process.wait(30)
        self.process = None

    @property
    def storage(self) -> Path:
        return self.root / "var"

    @property
    def database(self) -> Path:
        """The SQLite file (the default ``database_url``)."""
        return self.storage / "facenode.db"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "node.cli", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def log_text(self) -> str:
        p = self.root / "node.log"
        return p.read_text(errors="replace") if p.exists() else ""
