"""``models`` (list, promote, rollback) and ``serve``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from backend.cli.common import EXIT_OK
from backend.config import Settings


def add_parsers(sub: Any) -> None:
    """The ``serve`` and ``models`` sub-commands."""
    v = sub.add_parser("serve", help="run the HTTP backend (production WSGI server)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8080)
    v.set_defaults(func=cmd_serve)

    m = sub.add_parser("models", help="the model registry: list, promote, rollback")
    m.add_argument("action", choices=["list", "promote", "rollback"])
    m.add_argument("version", nargs="?")
    m.add_argument("--dir", type=Path, help="models directory (default: LEADSCORE_MODEL_DIR or ./models)")
    m.add_argument("--force", action="store_true", help="promote a version that failed its quality gates")
    m.add_argument("--json", action="store_true", help="list as JSON")
    m.set_defaults(func=cmd_models)



def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from backend.web.server import run

    run(host=args.host, port=args.port, settings=settings)
    return EXIT_OK


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from backend.errors import BadInput
    from backend.store import registry

    model_dir = args.dir or settings.model_dir
    if args.action == "list":
        versions = registry.list_versions(model_dir)
        if args.json:
            print(json.dumps(versions, indent=2))
        elif not versions:
            print(f"No model versions in {model_dir}.")
        for v in [] if args.json else versions:
            if v["damaged"]:
                print(f"{'*' if v['active'] else ' '} {v['version']}  damaged card")
                continue
            cv = f"  CV AUC {v['cv_auc']}" if v.get("cv_auc") is not None else ""
            print(f"{'*' if v['active'] else ' '} {v['version']}  trained {v['trained_at']}  AUC {v['auc']}{cv}  "
                  f"precision {v['precision']}  recall {v['recall']}  "
                  f"{'promotable' if v['promotable'] else 'failed gates'}")
    elif args.action == "promote":
        if not args.version:
            raise BadInput("Name the version to promote: python -m backend models promote VERSION.")
        registry.promote(model_dir, args.version, require_promotable=not args.force)
        print(f"Active model: {args.version}")
    else:
        print(f"Active model: {registry.rollback(model_dir)}")
    return EXIT_OK


