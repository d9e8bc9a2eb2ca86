"""A real Orthanc (Debian package) as the test PACS: loopback HTTP, free ports, a temporary
storage folder, the clinic's Lua routing rule from docker/, stopped by the test.

With ``dicomweb=True`` it also loads the DICOMweb plugin (Debian ``orthanc-dicomweb``) at
``/dicom-web/``, as a clinic does for a web viewer such as OHIF. :meth:`Orthanc.stop` then
:meth:`Orthanc.start` again is a PACS outage: the same ports, the same storage (what it had
received is still there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.net import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
LUA_RULE = REPO / "docker" / "orthanc" / "route-to-facenode.lua"
ORTHANC_BIN = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass
class Orthanc:
    root: Path
    dicom_port: int
    http_port: int
    aet: str = "ORTHANC"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(
        self,
        modalities: dict[str, tuple[str, str, int]],
        stable_age_s: int = 1,
        lua_scripts: tuple[Path, ...] = (),
        *,
        dicomweb: bool = False,
    ) -> None:
        """Start (or start again, on the same ports and storage); ``lua_scripts`` are loaded
        after the routing rule (a test's own callbacks, e.g. a slow ReceivedInstanceFilter)."""
        cfg: dict[str, Any] = {
            "Name": "facenode-test-pacs",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"),
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowStore": True,
            "StableAge": stable_age_s,
            "LuaScripts": [str(LUA_RULE), *(str(p) for p in lua_scripts)],
            "Plugins": [],
            "DicomModalities": {k: list(v) for k, v in modalities.items()},
            "DicomScuTimeout": 30,
            "HttpThreadsCount": 8,
        }
        if dicomweb:
            if not DICOMWEB_PLUGIN.exists():
                raise FileNotFoundError(
                    f"{DICOMWEB_PLUGIN} is missing: install the Debian package orthanc-dicomweb"
                )
            cfg["Plugins"] = [str(DICOMWEB_PLUGIN)]
            cfg["DicomWeb"] = {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "Ssl": False,
                # full metadata from the stored files: a viewer reads SR content from it
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            }
        (self.root / "orthanc.json").write_text(json.dumps(cfg, indent=2))
        with open(self.root / "orthanc.log", "ab") as log:  # the child writes to its own copy
            self.process = subprocess.Popen(
                [ORTHANC_BIN, str(self.root / "orthanc.json")], stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.http_port, 60)
        wait_for_port(self.dicom_port, 60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log_text(self) -> str:
        p = self.root / "orthanc.log"
        return p.read_text(errors="replace") if p.exists() else ""

    # REST helpers -------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:  # noqa: S310 - loopback
            body = r.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:  # noqa: S310 - loopback
            return bytes(r.read())

    def upload(self, path: Path) -> str:
        """Store one DICOM file through the REST API; its Orthanc instance id."""
        answer = self.post("/instances", path.read_bytes())
        return str(answer["ID"])

    def post(self, path: str, data: bytes | dict[str, Any]) -> Any:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        req = urllib.request.Request(self.url + path, data=body, method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
            out = r.read()
        return json.loads(out) if out[:1] in (b"{", b"[") else out

    def sop_uids_of_study(self, study_uid: str) -> list[str]:
        """The SOP Instance UIDs Orthanc holds in the study (one per stored instance: Orthanc
        keeps one copy of a SOP Instance UID however often it was sent)."""
        found = self.post("/tools/find", {"Level": "Instance", "Expand": True,
                                          "Query": {"StudyInstanceUID": study_uid}})
        return [str(i["MainDicomTags"]["SOPInstanceUID"]) for i in found]

    def instances_by_modality(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for sid in self.get("/series"):
            s = self.get(f"/series/{sid}")
            out.setdefault(s["MainDicomTags"].get("Modality", ""), []).extend(s["Instances"])
        return out


def new_orthanc(root: Path) -> Orthanc:
    root.mkdir(parents=True, exist_ok=True)
    return Orthanc(root=root, dicom_port=free_port(), http_port=free_port())
