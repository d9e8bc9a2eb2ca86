"""The node's one typed settings object: TOML file + ``FACENODE_*`` environment variables.

Precedence (highest first): environment, TOML file, embedded defaults. Validation happens
once at start; :class:`SettingsError` carries every problem in one readable message so an
IT admin fixes the file in one go.

Environment variables are the upper-cased keys with the prefix, e.g. ``FACENODE_PORT=11112``,
``FACENODE_ACCEPTED_CALLING_AE_TITLES=PACS,MODALITY`` (comma list) and
``FACENODE_DESTINATIONS=PACS=ORTHANC@10.0.0.5:4242;ARCHIVE=ARCH@10.0.0.6:2762+tls``
(``+tls``: DICOM TLS to that destination) and
``FACENODE_ACCEPTED_PEER_NETWORKS=10.0.0.0/8,192.168.1.20`` (comma list).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.errors import FacenodeError

ENV_PREFIX = "FACENODE_"
CONFIG_ENV = "FACENODE_CONFIG"
#: ``FACENODE_*`` variables that are not settings: the config file's path, and the folder of
#: third-party test data the tests and benchmarks read (``../shared/data`` by default).
NOT_SETTINGS = frozenset({CONFIG_ENV, "FACENODE_SHARED_DATA"})
_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # DICOM AE: 16 chars, no backslash

#: The landmark backends ``analysis_backend`` may name. The backends themselves are one
#: table in ``analysis/landmarks/registry.py`` (loader, extra, weight files, licence); this
#: is a plain copy of its names because ``config`` sits at the bottom of the layers and may
#: not import ``analysis``, yet a wrong name must fail here, with every other problem of
#: the file, before anything starts. ``tests/unit/config/test_settings.py`` asserts the two
#: are equal, so a backend added to the registry and not here fails the tests.
ANALYSIS_BACKENDS: Final = (
    "mediapipe",
    "dlib",
    "fan2d",
    "fan3d",
    "insightface",
    "insightface68",
    "ensemble",
)


class SettingsError(FacenodeError, ValueError):
    """The configuration is invalid; the message lists every problem found."""


def _check_ae(value: str) -> str:
    v = value.strip()
    if not v or not _AE_RE.match(v):
        raise ValueError(f"AE title must be 1-16 printable characters without '\\', got {value!r}")
    return v


class Destination(BaseModel):
    """A DICOM peer that receives results (C-STORE SCP)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    ae_title: str
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    #: DICOM TLS (PS3.15 B.1/B.2) to this destination; its certificate is verified against
    #: ``tls_ca_file`` (else the node's ``tls_ca_file``, else the system's CAs) and must name
    #: ``host``. The node's own certificate, when set, is presented (for mutual TLS).
    tls: bool = False
    tls_ca_file: Path | None = None

    _ae = field_validator("ae_title")(_check_ae)


class Settings(BaseModel):
    """Every key of the node's configuration, with its embedded default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ae_title: str = "FACENODE"
    #: Plain DICOM (TCP) port; 0 = no plain listener (TLS only).
    port: int = Field(default=11112, ge=0, le=65535)
    bind_address: str = "0.0.0.0"  # noqa: S104 - a DICOM node listens for the PACS
    #: DICOM TLS port (2762 is DICOM's registered TLS port); 0 = no TLS listener.
    tls_port: int = Field(default=0, ge=0, le=65535)
    #: The node's certificate chain and private key (PEM): served on ``tls_port`` and
    #: presented to destinations with ``tls = true``.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: CA bundle (PEM) that peers' certificates are verified against: clients of
    #: ``tls_port`` (when they present one) and TLS destinations without their own CA.
    tls_ca_file: Path | None = None
    #: Mutual TLS: a client of ``tls_port`` without a certificate signed by ``tls_ca_file``
    #: is refused during the handshake.
    tls_require_client_cert: bool = False
    #: Source addresses allowed to connect, as IP networks (``10.0.0.0/8``) or single
    #: addresses; a connection from elsewhere is closed before any DICOM is read. Empty: any.
    accepted_peer_networks: tuple[str, ...] = ()
    storage_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file facenode.db in storage_dir
    accepted_calling_ae_titles: tuple[str, ...] = ()  # empty: accept any calling AE
    destinations: tuple[Destination, ...] = ()
    stable_age_s: float = Field(default=10.0, gt=0, le=86400)
    workers: int = Field(default=2, ge=1, le=64)  # analysis worker processes
    #: Seconds a peer has from opening the connection (and the TLS handshake) to a complete
    #: A-ASSOCIATE-RQ; also how long we wait for A-ASSOCIATE-AC / A-RELEASE-RP as a sender.
    acse_timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: Seconds the sender waits for a C-STORE / C-ECHO response.
    dimse_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    #: Seconds without any PDU after which an association (either side) is aborted; also the
    #: longest a half-sent PDU may stall.
    network_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    #: Seconds the sender waits for a TCP connection (and TLS handshake) to a destination.
    connection_timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: Associations at once, all peers together (each one may hold a photo in memory).
    max_associations: int = Field(default=32, ge=1, le=1024)
    #: Associations at once from one peer IP address, so that one peer cannot take them all.
    max_associations_per_peer: int = Field(default=8, ge=1, le=1024)
    min_free_disk_mb: int = Field(default=1024, ge=0)
    #: Resource limits (node/worker.py, dicom/limits.py): an image over ``max_pixels``
    #: (Rows × Columns × frames, by its DICOM header or its codestream's) or an object over
    #: ``max_object_mb`` is refused at C-STORE; one photo's analysis runs in a worker process
    #: limited to ``job_memory_mb`` of address space (0: no limit) and ``job_timeout_s``; a
    #: photo that kills or outlasts its worker ``job_max_attempts`` times is quarantined.
    max_pixels: int = Field(default=100_000_000, ge=1)
    max_object_mb: int = Field(default=320, ge=1)
    job_memory_mb: int = Field(default=4096, ge=0)
    job_timeout_s: float = Field(default=300.0, gt=0, le=86400)
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    outbox_retry_initial_s: float = Field(default=5.0, gt=0)
    outbox_retry_max_s: float = Field(default=600.0, gt=0)
    outbox_max_attempts: int = Field(default=100, ge=1)
    #: Photogrammetric 3D (node/series3d.py): a series whose photos were analysed runs a 3D
    #: reconstruction as well when it holds at least ``reconstruction_min_views`` photos
    #: with a face (0: never) from different directions — its Series Description matches
    #: ``reconstruction_series_pattern``, or its photos' View Code Sequences name two or more
    #: views, or the photos' head yaw spans ``reconstruction_min_yaw_span_deg`` degrees.
    #: 3D jobs run on their own ``reconstruction_workers`` job threads, each with one worker
    #: process limited to ``reconstruction_memory_mb`` (0: no limit) and
    #: ``reconstruction_timeout_s``, so a 3D job never holds up the photos' 2D analysis.
    reconstruction_min_views: int = Field(default=8, ge=0, le=1000)
    reconstruction_series_pattern: str = r"(?i)\b(3-?d|photogrammetr\w*|multi-?view)\b"
    reconstruction_min_yaw_span_deg: float = Field(default=30.0, ge=0, le=360)
    reconstruction_workers: int = Field(default=1, ge=1, le=16)
    reconstruction_memory_mb: int = Field(default=12288, ge=0)
    reconstruction_timeout_s: float = Field(default=3600.0, gt=0, le=86400)
    reconstruction_target_triangles: int = Field(default=100_000, ge=1000, le=5_000_000)
    #: A distance the clinic knows between two named landmarks, as ``A-B=MM`` (for example
    #: ``ibug_39-ibug_42=31.5``, a measured intercanthal width): the mesh's metric scale when
    #: no marker board is in view; empty: the iris diameter is the last resort.
    reconstruction_known_distance: str = ""
    #: Where the CUDA paths run (COLMAP PatchMatch stereo; the torch and ONNX Runtime
    #: landmark backends): ``auto`` uses a GPU when the installed libraries and a device
    #: allow it, ``cpu`` never, ``cuda`` insists (a job fails with the reason when there is
    #: none). MediaPipe and dlib run on the CPU whatever it says.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    analysis_backend: str = "mediapipe"
    model_dir: Path | None = None  # empty: <storage_dir>/models
    assumed_ipd_mm: float = Field(default=63.0, gt=40, lt=90)
    log_level: str = "INFO"
    #: Patient name, ID and birth date may appear in log lines (the node's own, and
    #: pynetdicom's identifier dumps) only when true; see ``node/identifiers.py``.
    log_patient_identifiers: bool = False
    #: ``HOST:PORT`` of a syslog collector (RFC 5424 over UDP) that ``facenode serve``
    #: forwards every audit row to; empty: the audit stays in the database only.
    audit_syslog: str = ""

    _ae = field_validator("ae_title")(_check_ae)

    @field_validator("accepted_calling_ae_titles")
    @classmethod
    def _check_calling(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_ae(a) for a in v)

    @field_validator("accepted_peer_networks")
    @classmethod
    def _check_networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for net in v:
            try:
                out.append(str(ipaddress.ip_network(net.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"accepted_peer_networks entries must be IP networks like 10.0.0.0/8 "
                    f"or addresses like 10.0.0.5, got {net!r}"
                ) from None
        return tuple(out)

    @model_validator(mode="after")
    def _check_listeners(self) -> Settings:
        problems = []
        if self.port == 0 and self.tls_port == 0:
            problems.append("port and tls_port are both 0: the node would not listen at all")
        if self.port != 0 and self.port == self.tls_port:
            problems.append("port and tls_port must differ")
        if self.tls_port != 0 and (self.tls_cert_file is None or self.tls_key_file is None):
            problems.append("tls_port needs tls_cert_file and tls_key_file")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            problems.append("tls_cert_file and tls_key_file go together")
        if self.tls_require_client_cert and self.tls_ca_file is None:
            problems.append("tls_require_client_cert needs tls_ca_file (the CA of the clients)")
        if self.max_associations_per_peer > self.max_associations:
            problems.append("max_associations_per_peer must not exceed max_associations")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("destinations")
    @classmethod
    def _unique_names(cls, v: tuple[Destination, ...]) -> tuple[Destination, ...]:
        names = [d.name for d in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"destination names must be unique, repeated: {', '.join(dupes)}")
        return v

    @field_validator("analysis_backend")
    @classmethod
    def _check_backend(cls, v: str) -> str:
        if v not in ANALYSIS_BACKENDS:
            raise ValueError(
                f"analysis_backend must be one of {', '.join(ANALYSIS_BACKENDS)}, got {v!r}"
            )
        return v

    @field_validator("reconstruction_series_pattern")
    @classmethod
    def _check_pattern(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(
                f"reconstruction_series_pattern is not a regular expression: {exc}"
            ) from None
        return v

    @field_validator("reconstruction_known_distance")
    @classmethod
    def _check_known_distance(cls, v: str) -> str:
        v = v.strip()
        if v:
            parse_known_distance(v)  # raises ValueError with the expected form
        return v

    @field_validator("audit_syslog")
    @classmethod
    def _check_syslog(cls, v: str) -> str:
        v = v.strip()
        if v and not re.match(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$", v):
            raise ValueError(f"audit_syslog must look like HOST:PORT, got {v!r}")
        return v

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, v: str) -> str:
        if v.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {v!r}")
        return v.upper()

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside the storage folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.storage_dir / 'facenode.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.model_dir if self.model_dir is not None else self.storage_dir / "models"

    def destination(self, name: str) -> Destination:
        for d in self.destinations:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.destinations) or "none configured"
        raise SettingsError(f"unknown destination {name!r} (known: {known})")


KNOWN_DISTANCE_RE: Final = re.compile(
    r"^\s*([A-Za-z0-9_]+)\s*-\s*([A-Za-z0-9_]+)\s*=\s*([0-9.]+)\s*$"
)


def parse_known_distance(text: str) -> tuple[str, str, float]:
    """``A-B=MM`` → (landmark a, landmark b, millimetres > 0)."""
    m = KNOWN_DISTANCE_RE.match(text)
    mm = float(m[3]) if m and m[3].count(".") <= 1 else 0.0
    if not m or not mm > 0 or m[1] == m[2]:
        raise ValueError(
            f"reconstruction_known_distance must look like LANDMARK-LANDMARK=MM with two "
            f"different landmarks and a distance > 0 (e.g. ibug_39-ibug_42=31.5), got {text!r}"
        )
    return m[1], m[2], mm


def _parse_destinations(text: str) -> list[dict[str, Any]]:
    """``NAME=AE@host:port;NAME2=AE2@host2:port2+tls`` into destination dicts."""
    out: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        m = re.match(r"^([^=]+)=([^@]+)@(.+):(\d+)(\+tls)?$", part)
        if not m:
            raise SettingsError(
                f"FACENODE_DESTINATIONS entry {part!r} must look like NAME=AE_TITLE@host:port "
                "(with +tls at the end for DICOM TLS)"
            )
        out.append(
            {"name": m[1], "ae_title": m[2], "host": m[3], "port": int(m[4]), "tls": bool(m[5])}
        )
    return out


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    fields = Settings.model_fields
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in fields:
            raise SettingsError(f"unknown environment variable {key} (no setting {name!r})")
        if name == "destinations":
            values[name] = _parse_destinations(raw)
        elif name in ("accepted_calling_ae_titles", "accepted_peer_networks"):
            values[name] = [a.strip() for a in raw.split(",") if a.strip()]
        else:
            values[name] = raw
    return values


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read the TOML file (``path`` or ``$FACENODE_CONFIG``), overlay the environment and
    explicit overrides, and validate. Raises :class:`SettingsError` with every problem."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"configuration file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"configuration file {path} is not valid TOML: {exc}") from None
    data.update(_from_env(env))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"  - {where}: {err['msg']}")
        source = f" in {path}" if path else ""
        message = "invalid configuration" + source + ":\n" + "\n".join(problems)
        raise SettingsError(message) from None
