"""`exomock serve`: one process, or `--workers N` processes on one listening socket sharing a
store (`--store redis://...`), kept running by a small supervisor."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .settings import ConfigError, Settings

if TYPE_CHECKING:
    from .store.state import State

MIN_CONTROL_TOKEN = 16
MAX_WORKERS = 64
STORE_SCHEMES = ("redis", "rediss", "unix")
# A worker that ends this soon after it started, this many times in a row, is not restarted.
QUICK_END_SECONDS = 5.0
QUICK_ENDS = 3


def add_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--control-token",
        help="every /_mock/ request must carry Authorization: Bearer TOKEN (env "
        "EXOMOCK_CONTROL_TOKEN; at least 16 characters); required on an address that is not "
        "loopback",
    )
    serve.add_argument("--port", default="8000", help="port, 0 to 65535 (default 8000; 0: any)")
    serve.add_argument("--config", help="YAML configuration (default: the embedded one)")
    serve.add_argument("--state-file", help="keep state in this SQLite file across restarts")
    serve.add_argument(
        "--store",
        help="share the state with every process pointed at the same Redis: "
        "redis://[:PASSWORD@]HOST:PORT/DB (env EXOMOCK_STORE)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help=f"serve with N processes on one port, 1 to {MAX_WORKERS} (more than 1 needs "
        "--store; default 1)",
    )
    serve.add_argument(
        "--lease", type=float, default=5.0, metavar="SECONDS",
        help="with --store: how long a process that stopped answering keeps its pending "
        "callbacks before another process sends them (default 5)",
    )
    serve.add_argument("--seed", type=int, help="seed for ids and PINs, for repeatable runs")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    # A worker of `--workers`: serves on the supervisor's socket, says nothing at start.
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)


def port_number(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        return None
    return int(text)


def loopback(host: str) -> bool:
    from .routes.browsers import loopback_host

    return loopback_host(host)


def control_token_problem(host: str, token: str | None) -> str | None:
    """Why the control plane would be unsafe to serve (None when it is not)."""
    if token is not None and len(token) < MIN_CONTROL_TOKEN:
        return f"--control-token must have at least {MIN_CONTROL_TOKEN} characters"
    if token is None and not loopback(host):
        return (
            f"--host {host} is reachable from other machines: give --control-token (or "
            "EXOMOCK_CONTROL_TOKEN) so that only its holders reach /_mock/"
        )
    return None


def shown_url(url: str) -> str:
    """A store URL fit to print: its password hidden, its length bounded."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.hostname or ""
            netloc = f"{parts.username or ''}:***@{host}" + (
                f":{parts.port}" if parts.port else ""
            )
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        url = "(not a URL)"
    return url if len(url) <= 80 else url[:77] + "..."


def _store_problem(args: argparse.Namespace, store: str | None) -> str | None:
    if not 1 <= args.workers <= MAX_WORKERS:
        return f"--workers must be from 1 to {MAX_WORKERS}"
    if args.workers > 1 and not store:
        return (
            f"--workers {args.workers} needs a state the processes share: give --store "
            "redis://HOST:PORT/DB (or EXOMOCK_STORE)"
        )
    if store and args.state_file:
        return "--store and --state-file exclude each other: the state is kept in one place"
    if store and urlsplit(store).scheme not in STORE_SCHEMES:
        return f"--store {shown_url(store)}: expected a redis://HOST:PORT/DB URL"
    if not 0.5 <= args.lease <= 3600:
        return "--lease must be from 0.5 to 3600 seconds"
    return None


def run(args: argparse.Namespace) -> int:
    port = port_number(args.port)
    if port is None:
        return _refuse(f"--port must be a whole number from 0 to 65535, not {args.port[:20]!r}")
    token = args.control_token or os.environ.get("EXOMOCK_CONTROL_TOKEN") or None
    store = args.store or os.environ.get("EXOMOCK_STORE") or None
    problem = control_token_problem(args.host, token) or _store_problem(args, store)
    if problem is not None:
        return _refuse(problem)
    try:
        settings = Settings.load(args.config)
    except ConfigError as exc:
        return _refuse(str(exc))
    if args.listen_fd is not None:
        listener = socket.socket(fileno=args.listen_fd)
    else:
        # Listening before anything else is opened: a port in use is said before any success.
        from .serving import listen

        try:
            listener = listen(args.host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return _refuse(f"cannot listen on {args.host} port {port}: {reason}")
    state, problem = _open_state(args, settings, store)
    if problem is not None:
        listener.close()
        return _refuse(problem)
    if args.listen_fd is None:
        tenants = ", ".join(settings.tenants)
        bound = listener.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        shared = f" with {args.workers} processes" if args.workers > 1 else ""
        store_text = f", state in {shown_url(store)}" if store else ""
        print(f"exomock: serving tenants {tenants} on http://{host}:{bound}{shared}{store_text}",
              file=sys.stderr)
        if args.workers > 1:
            if state is not None:
                state.close()  # the workers open their own
            return _supervise(args, listener, token, store)
    return _serve(args, settings, listener, state, token)


def _refuse(problem: str) -> int:
    print(f"exomock: {problem}", file=sys.stderr)
    return 2


def _open_state(
    args: argparse.Namespace, settings: Settings, store: str | None
) -> tuple[State | None, str | None]:
    if store:
        from .domain.changes import StoreUnavailable
        from .store.shared import RedisState

        try:
            return RedisState(
                store, retention=settings.callbacks.retention, lease_seconds=args.lease
            ), None
        except StoreUnavailable:
            return None, f"cannot use the store at {shown_url(store)}: is Redis running there?"
    if args.state_file:
        from .store.lock import StateFileError
        from .store.state import State

        try:
            return State.open(args.state_file, retention=settings.callbacks.retention), None
        except StateFileError as exc:
            return None, str(exc)
    return None, None


def _serve(
    args: argparse.Namespace,
    settings: Settings,
    listener: socket.socket,
    state: State | None,
    token: str | None,
) -> int:
    import uvicorn

    from .app import create_app
    from .serving import uvicorn_config

    app = create_app(settings, state=state, seed=args.seed, control_token=token,
                     loopback_only=loopback(args.host))
    config = uvicorn_config(
        app, settings, host=args.host, port=listener.getsockname()[1], own_process=True,
        log_level=args.log_level, access_log=args.access_log,
    )
    try:
        # The socket itself (not its descriptor, which uvicorn would take for a Unix socket and
        # leave Nagle's algorithm on, adding 40 ms to answers).
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
    return 0


def _worker_command(args: argparse.Namespace, fd: int) -> list[str]:
    command = [
        sys.executable, "-m", "mock_server", "serve", "--host", args.host, "--port", args.port,
        "--workers", "1", "--lease", str(args.lease), "--log-level", args.log_level,
        "--listen-fd", str(fd),
    ]
    if args.config:
        command += ["--config", args.config]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.access_log:
        command.append("--access-log")
    return command


def _supervise(
    args: argparse.Namespace, listener: socket.socket, token: str | None, store: str | None
) -> int:
    """Starts the workers on the one socket, starts another when one ends unasked (killed,
    crashed), and stops them all on SIGTERM or SIGINT."""
    fd = listener.fileno()
    env = dict(os.environ)
    # Passed in the environment, not on command lines that every user of the host can read.
    if token:
        env["EXOMOCK_CONTROL_TOKEN"] = token
    assert store is not None
    env["EXOMOCK_STORE"] = store
    command = _worker_command(args, fd)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, pass_fds=(fd,), env=env)

    workers = {index: (start(), time.monotonic()) for index in range(args.workers)}
    quick_ends = {index: 0 for index in workers}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    try:
        while workers:
            time.sleep(0.2)
            for index, (process, started) in list(workers.items()):
                code = process.poll()
                if code is None:
                    continue
                if stopping:
                    del workers[index]
                    continue
                quick = time.monotonic() - started < QUICK_END_SECONDS
                quick_ends[index] = quick_ends[index] + 1 if quick else 0
                if quick_ends[index] >= QUICK_ENDS:
                    print(f"exomock: worker {index} keeps ending (status {code}); stopping",
                          file=sys.stderr)
                    status = 1
                    stop(signal.SIGTERM, None)
                    del workers[index]
                    continue
                print(f"exomock: worker {index} (pid {process.pid}) ended with status {code}; "
                      "starting another", file=sys.stderr)
                workers[index] = (start(), time.monotonic())
    finally:
        listener.close()
    return status
