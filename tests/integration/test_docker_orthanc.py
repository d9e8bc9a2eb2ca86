"""The shipped Orthanc configuration (docker/orthanc/orthanc.json), run by the real Orthanc
binary: no default credentials, HTTP locked, DICOM only from registered modalities and to
our AE title; and the compose files publish only Orthanc's DICOM port (8042 only on the
loopback, in the admin override)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import storescu
from tests.support.net import free_port, wait_for_port

pytestmark = pytest.mark.integration

DOCKER = Path(__file__).resolve().parents[2] / "docker"
ORTHANC_BIN = shutil.which("Orthanc") or "/usr/sbin/Orthanc"


def _config_lines(path: Path) -> list[str]:
    """The lines of a compose file that are not comments."""
    return [line for line in path.read_text().splitlines() if not line.strip().startswith("#")]


class ShippedOrthanc:
    """docker/orthanc/orthanc.json with only paths and ports changed for this machine."""

    def __init__(self, root: Path, credentials: dict[str, object] | None = None) -> None:
        text = re.sub(r"^\s*//.*$", "", (DOCKER / "orthanc" / "orthanc.json").read_text(),
                      flags=re.M)
        cfg = json.loads(text)
        self.dicom_port, self.http_port = free_port(), free_port()
        cfg.update(StorageDirectory=str(root / "db"), IndexDirectory=str(root / "db"),
                   DicomPort=self.dicom_port, HttpPort=self.http_port, Plugins=[],
                   LuaScripts=[str(DOCKER / "orthanc" / "route-to-facenode.lua")])
        cfg["DicomModalities"]["facenode"][1] = "127.0.0.1"
        folder = root / "config"
        folder.mkdir(parents=True)
        (folder / "orthanc.json").write_text(json.dumps(cfg))
        if credentials is not None:  # as compose.admin.yml's instructions make it
            (folder / "credentials.json").write_text(json.dumps(credentials))
        self.log = root / "orthanc.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([ORTHANC_BIN, str(folder)], stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_for_port(self.http_port, 60)
        wait_for_port(self.dicom_port, 60)

    def http_status(self, user: str | None = None, password: str = "") -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/system")
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[ShippedOrthanc]:
    orthanc = ShippedOrthanc(tmp_path / "orthanc")
    yield orthanc
    orthanc.stop()


def test_no_default_credentials_open_the_http_api(shipped: ShippedOrthanc) -> None:
    assert shipped.http_status() == 401
    for user, password in [("admin", "change-me"), ("orthanc", "orthanc"), ("admin", "")]:
        assert shipped.http_status(user, password) == 401


def test_dicom_only_from_registered_modalities_to_our_ae_title(
    shipped: ShippedOrthanc, astronaut_photo: Path
) -> None:
    port = shipped.dicom_port
    assert storescu(astronaut_photo, port, "ORTHANC", calling_ae="STRANGER").returncode != 0
    assert storescu(astronaut_photo, port, "ANY-SCP", calling_ae="FACENODE").returncode != 0
    out = storescu(astronaut_photo, port, "ORTHANC", calling_ae="FACENODE")
    assert out.returncode == 0, out.stderr


def test_the_admin_credentials_file_works_with_the_shipped_config(tmp_path: Path) -> None:
    password = "a-long-random-password-made-per-site"  # noqa: S105 - made by the test
    orthanc = ShippedOrthanc(tmp_path / "orthanc", credentials={
        "RemoteAccessAllowed": True, "RegisteredUsers": {"admin": password}})
    try:
        assert orthanc.http_status("admin", password) == 200
        assert orthanc.http_status() == 401
    finally:
        orthanc.stop()


def test_compose_publishes_only_dicom() -> None:
    compose = "\n".join(_config_lines(DOCKER / "compose.yml"))
    assert re.findall(r"ports:.*", compose) == ['ports: [ "4242:4242" ]  # DICOM only']
    assert "8042" not in compose and "11112:" not in compose
    assert "change-me" not in (DOCKER / "orthanc" / "orthanc.json").read_text()
    admin = "\n".join(_config_lines(DOCKER / "compose.admin.yml"))
    assert re.findall(r"ports:.*", admin) == ['ports: [ "127.0.0.1:8042:8042" ]']
    assert "create_host_path: false" in admin  # no credentials file: no start
