"""``facenode models list`` and ``facenode models provision --from DIR``.

Handlers take the model folder from ``args.model_dir`` (the main CLI sets it from the
settings) and return the process exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from models.manifest import ManifestError, ModelStatus, list_models
from models.provision import provision


def register(subparsers: Any) -> None:
    """Add the ``models`` command group to the main parser's subparsers."""
    p = subparsers.add_parser("models", help="list and provision landmark models")
    sub = p.add_subparsers(dest="models_command", required=True)
    lp = sub.add_parser("list", help="models, their licences and whether they can run here")
    lp.set_defaults(func=cmd_list)
    pp = sub.add_parser(
        "provision",
        help="copy provisioned weights (checked by sha256) into the model folder",
        description="Looks for every provisioned file of the model manifest under DIR (at "
        "any depth), checks its sha256, copies it into the model folder and records it in "
        "provisioned.json. Nothing is downloaded.",
    )
    pp.add_argument("--from", dest="source", type=Path, required=True, metavar="DIR")
    pp.set_defaults(func=cmd_provision)


def _model_dir(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "model_dir", None)
    return Path(value) if value is not None else None


def cmd_list(args: argparse.Namespace) -> int:
    model_dir = _model_dir(args)
    try:
        rows = list_models(model_dir)
    except ManifestError as exc:
        print(f"facenode models: {exc}", file=sys.stderr)
        return 2
    print(f"model folder: {model_dir if model_dir is not None else '(not configured)'}")
    print(render_table(rows))
    return 0


def render_table(rows: list[ModelStatus]) -> str:
    head = ("MODEL", "KIND", "AVAILABLE", "COMMERCIAL USE", "LICENCE")
    body = [
        (
            r.name,
            r.kind,
            ("yes" if r.available else "no") + ("" if r.verified or not r.available else " (!)"),
            "yes" if r.commercial_use else "NO (non-commercial)",
            r.licence,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(4)]
    lines = []
    for row in (head, *body):
        cells = "  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
        lines.append(f"{cells}  {row[4]}")
    notes = [f"  {r.name}: {r.reason}" for r in rows if r.reason]
    if notes:
        lines += ["", "Why not available / not verified:", *notes]
    nc = [r for r in rows if not r.commercial_use]
    if nc:
        lines += [
            "",
            "NON-COMMERCIAL: the licences of these models exclude commercial use; clear any "
            "commercial use with the rights holder first:",
        ]
        lines += [f"  {r.name}: {r.note.removeprefix('NON-COMMERCIAL: ') or r.licence}" for r in nc]
    return "\n".join(lines)


def cmd_provision(args: argparse.Namespace) -> int:
    model_dir = _model_dir(args)
    if model_dir is None:
        print("facenode models provision: no model folder configured (model_dir)", file=sys.stderr)
        return 2
    try:
        results = provision(Path(args.source), model_dir)
    except (FileNotFoundError, ManifestError) as exc:
        print(f"facenode models provision: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r.status:<9} {r.filename:<28} [{', '.join(r.models)}] {r.message}")
    copied = sum(r.status in ("copied", "unchanged") for r in results)
    rejected = [r for r in results if r.status == "rejected"]
    print(f"\n{copied} file(s) in {model_dir}; lock: {model_dir / 'provisioned.json'}")
    if rejected:
        print(f"{len(rejected)} file(s) REJECTED (wrong sha256): not copied", file=sys.stderr)
        return 1
    if copied == 0:
        print(f"no model files found under {args.source}", file=sys.stderr)
        return 1
    return 0
