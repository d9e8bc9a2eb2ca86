"""Lock-out probe: idle associations and silent TCP connections held open against
``facenode serve``, then how long until dcmtk's storescu stores a photo.

Run: ``.venv/bin/python -m tests.bench.bench_lockout [--idle 20] [--silent 40]``.

Two cases: the idle associations and silent connections come from other hosts (clients
bound to 127.0.0.2 and 127.0.0.3; Linux routes all of 127/8 to loopback) or from the
sender's own address 127.0.0.1. storescu is retried every second until it succeeds (at most
120 s); the figures are the seconds to the first success, the attempts, and how many of the
idle associations the node admitted. Results: table on stdout, JSON in
``bench-results/lockout.json``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pynetdicom import AE
from skimage.data import astronaut

from dicom.wrap import wrap_rgb_image
from tests.bench.photos import REPO
from tests.bench.report import write_json
from tests.support.node_proc import NodeProcess


def _probe(root: Path, photo: Path, idle: int, silent: int, same_host: bool) -> dict[str, Any]:
    node = NodeProcess(root)
    node.start()
    held, socks = [], []
    try:
        for _ in range(idle):
            ae = AE(ae_title="IDLER")
            ae.add_requested_context("1.2.840.10008.1.1")
            ae.network_timeout = 300
            held.append(ae.associate("127.0.0.1", node.port, ae_title="FACENODE",
                                     bind_address=("127.0.0.1" if same_host else "127.0.0.2", 0)))
        for _ in range(silent):
            s = socket.socket()
            s.bind(("127.0.0.1" if same_host else "127.0.0.3", 0))
            s.connect(("127.0.0.1", node.port))
            socks.append(s)
        admitted = sum(a.is_established for a in held)
        start, attempts = time.monotonic(), 0
        while True:
            attempts += 1
            out = subprocess.run(["/usr/bin/storescu", "-aet", "STORESCU", "-aec", "FACENODE",
                                  "127.0.0.1", str(node.port), str(photo)],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0 or time.monotonic() - start > 120:
                break
            time.sleep(1)
        return {"case": "same host" if same_host else "other hosts", "idle": idle,
                "silent": silent, "idle_admitted": admitted, "stored": out.returncode == 0,
                "seconds_to_store": round(time.monotonic() - start, 2), "attempts": attempts}
    finally:
        for a in held:
            if a.is_established:
                a.abort()
        for s in socks:
            s.close()
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--silent", type=int, default=40)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "p.dcm"
        wrap_rgb_image(astronaut()[:128, :128].copy()).save_as(photo, enforce_file_format=True)
        for same_host in (False, True):
            rows.append(_probe(Path(tmp) / f"node-{same_host}", photo, args.idle, args.silent,
                               same_host))
    print(f"{'case':<12} {'idle':>5} {'silent':>6} {'admitted':>8} {'stored':>6} "
          f"{'seconds':>7} {'tries':>5}")
    for r in rows:
        print(f"{r['case']:<12} {r['idle']:>5} {r['silent']:>6} {r['idle_admitted']:>8} "
              f"{r['stored']!s:>6} {r['seconds_to_store']:>7} {r['attempts']:>5}")
    write_json(REPO / "bench-results" / "lockout.json", rows)


if __name__ == "__main__":
    main()
