"""``facenode`` command line: serve, status, echo, analyze, models, outbox, audit, purge."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from config.settings import Settings, SettingsError, load_settings

log = logging.getLogger("facenode")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def log_level_for(args: argparse.Namespace, settings: Settings) -> str:
    """The level this run logs at: ``--log-level`` if given, else ``-v`` (INFO) / ``-vv``
    (DEBUG); else ``serve`` logs at the configured ``log_level`` and every other command at
    WARNING, so that a one-shot answer (``status``) is not buried under the INFO lines of what
    it did on the way (the database migrations it checked)."""
    if args.log_level is not None:
        return str(args.log_level)
    if args.verbose:
        return "DEBUG" if args.verbose > 1 else "INFO"
    if getattr(args, "handler", None) is cmd_serve:
        return settings.log_level
    return "WARNING"


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from node.service import Node
    from node.tls import TlsConfigError

    node = Node(settings)
    try:
        node.start()
    except TlsConfigError as exc:
        node.stop()
        print(f"facenode: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        node.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(
        f"facenode {settings.ae_title} listening on {_ports(settings)}; "
        f"storage {settings.storage_dir.resolve()}; database {settings.db_url}",
        flush=True,
    )
    node.wait()
    return 0


def _ports(settings: Settings) -> str:
    ports = [f"{settings.bind_address}:{p} ({kind})"
             for p, kind in ((settings.port, "DICOM"), (settings.tls_port, "DICOM TLS")) if p]
    return ", ".join(ports)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from node.db import open_database
    from node.status import collect, render

    data = collect(open_database(settings.db_url))
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0


def cmd_echo(args: argparse.Namespace, settings: Settings) -> int:
    from node.sender import DicomSender, SendError

    try:
        dest = settings.destination(args.destination)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        status = DicomSender.from_settings(settings).echo(dest)
    except SendError as exc:
        print(f"C-ECHO {dest.name}: FAILED: {exc}", file=sys.stderr)
        return 1
    ok = status == 0
    print(f"C-ECHO {dest.name} ({dest.ae_title}@{dest.host}:{dest.port}): "
          f"{'Success' if ok else f'status 0x{status:04X}'}")
    return 0 if ok else 1


def cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    if args.three_d:
        return _analyze_3d(args, settings)
    from node.adhoc import analyze_paths

    csv_path = Path(args.csv) if args.csv else None
    return analyze_paths([Path(p) for p in args.paths], Path(args.output), settings, csv_path)


def _analyze_3d(args: argparse.Namespace, settings: Settings) -> int:
    from node.adhoc3d import analyze_3d
    from node.worker_task3d import Options3D
    from reconstruction.pipeline import KnownDistance

    known = None
    if args.known_distance:
        a, b, mm = args.known_distance
        try:
            known = (a, b, KnownDistance(a, b, float(mm)).mm)  # checked here: exit status 2
        except ValueError as exc:
            print(f"facenode analyze --3d: --known-distance: {exc}", file=sys.stderr)
            return 2
    options = Options3D(args.min_views, args.device, args.triangles, known)
    return analyze_3d([Path(p) for p in args.paths], Path(args.output), settings, options)


def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from node.db import open_database
    from node.outbox import requeue_dead

    n = requeue_dead(open_database(settings.db_url))
    print(f"{n} dead-lettered result(s) queued again")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facenode", description=__doc__)
    p.add_argument("--config", type=Path, help="TOML settings file (default: $FACENODE_CONFIG)")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log more: -v INFO, -vv DEBUG (commands other than serve log only "
                   "warnings and errors by default)")
    p.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="log level of this run (default: the settings' log_level for serve, "
                   "WARNING for the other commands)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the DICOM node")
    s.set_defaults(handler=cmd_serve)
    s = sub.add_parser("status", help="received series, jobs and outbox state")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_status)
    s = sub.add_parser("echo", help="C-ECHO a configured destination")
    s.add_argument("destination")
    s.set_defaults(handler=cmd_echo)
    s = sub.add_parser("analyze", help="analyse DICOM or image files into a folder")
    s.add_argument("paths", nargs="+")
    s.add_argument("-o", "--output", default="results", help="output folder (default: results)")
    s.add_argument(
        "--csv",
        metavar="FILE",
        help="also write one row per photo with every measurement (value, ±, flags) to FILE",
    )
    s.add_argument("--3d", dest="three_d", action="store_true",
                   help="the photos are one series around a face: reconstruct a metric 3D mesh "
                   "(STL, OBJ), renderings, 3D measurements and a summary into the folder")
    s.add_argument("--min-views", type=int, default=8, metavar="N",
                   help="--3d: registered views needed (default: 8)")
    s.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="--3d: where the dense stage runs (default: auto)")
    s.add_argument("--triangles", type=int, default=100_000, metavar="N",
                   help="--3d: triangles in the mesh (default: 100000)")
    s.add_argument("--known-distance", nargs=3, metavar=("LANDMARK_A", "LANDMARK_B", "MM"),
                   help="--3d: scale from a known distance between two landmarks when no "
                   "marker board is seen (e.g. ibug_39 ibug_42 33.5)")
    s.set_defaults(handler=cmd_analyze)
    s = sub.add_parser("outbox", help="outbox maintenance")
    osub = s.add_subparsers(dest="outbox_command", required=True)
    r = osub.add_parser("retry", help="queue dead-lettered results again")
    r.set_defaults(handler=cmd_outbox_retry)
    from node.cli_audit import register as register_audit

    register_audit(sub)  # audit, purge
    try:
        from node.cli_models import register
    except ImportError:  # pragma: no cover - models commands not installed
        pass
    else:
        register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"facenode: {exc}", file=sys.stderr)
        return 2
    _setup_logging(log_level_for(args, settings))
    from node.identifiers import protect_logs

    protect_logs(settings.log_patient_identifiers)
    args.model_dir = settings.models_dir
    if getattr(args, "func", None) is not None:  # models commands take only args
        return int(args.func(args))
    return int(args.handler(args, settings))


if __name__ == "__main__":
    sys.exit(main())
