"""`exomock`: serve the mock."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .settings import ConfigError, Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        print(f"exomock: {exc}", file=sys.stderr)
        return 2
    store = None
    if args.state_file:
        from .store.sqlite import SqliteStore

        store = SqliteStore(args.state_file)
    app = create_app(settings, store=store, seed=args.seed)
    tenants = ", ".join(settings.tenants)
    print(f"exomock: serving tenants {tenants} on http://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        loop="auto",
        http="auto",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exomock", description="A stateful mock of Exotel's ExoBridge and calling APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the mock server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--config", help="YAML configuration (default: the embedded one)")
    serve.add_argument("--state-file", help="keep state in this SQLite file across restarts")
    serve.add_argument("--seed", type=int, help="seed for ids and PINs, for repeatable runs")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
