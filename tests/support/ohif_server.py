"""The prebuilt OHIF viewer served the way a clinic serves it: one origin for the app and
for DICOMweb, ``/dicom-web/`` proxied to Orthanc's DICOMweb plugin.

``make ohif`` unpacks ``npm pack @ohif/app@<version>`` into ``.cache/ohif/<version>/``;
:func:`ohif_dist` finds the ``dist/`` folder. Files in the server's ``overlay`` folder
replace the shipped ones (the test writes its own ``app-config.js`` there, so the cache
stays as npm gave it). Paths that are no file fall back to ``index.html``, as OHIF's
client-side router expects (``/viewer?StudyInstanceUIDs=...``).

The proxy passes the browser's ``Host`` header on, so Orthanc writes BulkDataURIs and
other links against this origin.
"""

from __future__ import annotations

import http.client
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
OHIF_CACHE = REPO / ".cache" / "ohif"
#: The pinned versions the Makefile's ``ohif`` target fetches (kept in step with it).
OHIF_VERSIONS: tuple[str, ...] = ("3.12.10", "3.13.2")
DICOMWEB_PREFIX = "/dicom-web/"

_TYPES = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".wasm": "application/wasm",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


def ohif_dist(version: str) -> Path:
    """The unpacked ``dist/`` of ``@ohif/app@version`` (``make ohif`` puts it there)."""
    return OHIF_CACHE / version / "dist"


def app_config(data_source_root: str = "/dicom-web") -> str:
    """An ``app-config.js`` with one DICOMweb data source at ``data_source_root``.

    The format follows the shipped ``app-config.js`` (``window.config``, a
    ``dicomweb`` data source); study list, tour and cross-origin warnings are off.
    """
    return f"""/** facenode viewer test: OHIF against Orthanc's DICOMweb, same origin. */
window.config = {{
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: {{ option: 'never' }},
  defaultDataSourceName: 'orthanc',
  dataSources: [
    {{
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {{
        friendlyName: 'Orthanc DICOMweb (facenode test)',
        name: 'orthanc',
        wadoUriRoot: '{data_source_root}',
        qidoRoot: '{data_source_root}',
        wadoRoot: '{data_source_root}',
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: {{ enabled: true }},
      }},
    }},
  ],
}};
"""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        self.server.requests.append(f"{self.command} {self.path} " + (format % args))

    # --- DICOMweb proxy ---------------------------------------------------------------
    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Host"] = self.headers.get("Host", f"127.0.0.1:{self.server.server_port}")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.orthanc_port, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    # --- static files with SPA fallback -----------------------------------------------
    def _file(self) -> Path:
        rel = urlsplit(self.path).path.lstrip("/")
        for root in (self.server.overlay, self.server.dist):
            candidate = (root / rel).resolve()
            if rel and candidate.is_file() and candidate.is_relative_to(root.resolve()):
                return candidate
        return self.server.dist / "index.html"

    def _static(self) -> None:
        path = self._file()
        data = path.read_bytes()
        ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        self.send_response(200)
        self.send_header("Content-Type", ctype or "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store" if path.suffix == ".html" else "max-age=600")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self) -> None:
        if urlsplit(self.path).path.startswith(DICOMWEB_PREFIX):
            self._proxy()
        elif self.command in ("GET", "HEAD"):
            self._static()
        else:
            self.send_error(405)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _route  # noqa: N815 - stdlib API


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, dist: Path, overlay: Path, orthanc_port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.dist = dist
        self.overlay = overlay
        self.orthanc_port = orthanc_port
        self.requests: list[str] = []


class OhifServer:
    """OHIF ``dist/`` + the ``/dicom-web/`` proxy on a free loopback port, in a thread."""

    def __init__(self, dist: Path, overlay: Path, orthanc_http_port: int) -> None:
        if not (dist / "index.html").is_file():
            raise FileNotFoundError(f"no OHIF build in {dist}; run `make ohif`")
        overlay.mkdir(parents=True, exist_ok=True)
        (overlay / "app-config.js").write_text(app_config())
        self._server = _Server(free_port(), dist, overlay, orthanc_http_port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def start(self) -> OhifServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
