"""`exomock serve`: one process, or `--workers N` processes on one listening socket sharing a
store (`--store redis://...`), kept running by a small supervisor."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .settings import ConfigError, Settings

if TYPE_CHECKING:
    from .store.state import State

MIN_CONTROL_TOKEN = 16
MAX_WORKERS = 64
STORE_SCHEMES = ("redis", "rediss", "unix")
# A worker that ends this soon after it started is started again after a wait that doubles
# each time (a store that is down), up to RESTART_WAIT_MAX; workers still serving go on.
QUICK_END_SECONDS = 5.0
RESTART_WAIT_MAX = 30.0
# After SIGTERM, how long workers have to finish before they are killed.
STOP_GRACE_SECONDS = 10.0


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
    """A store URL fit to print: its password hidden (in the address or the query), its length
    bounded."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
            parts = parts._replace(netloc=netloc)
        if parts.query:
            query = [(k, "***" if "pass" in k.lower() else v)
                     for k, v in parse_qsl(parts.query, keep_blank_values=True)]
            parts = parts._replace(query=urlencode(query, safe="*"))
        url = urlunsplit(parts)
    except ValueError:
        url = "(not a URL)"
    return url if len(url) <= 80 else url[:77] + "..."


def _store_url_problem(store: str) -> str | None:
    """What is wrong with a store URL, said without its password (None when nothing)."""
    try:
        import redis.connection
    except ImportError:
        return "--store needs the Redis client: pip install 'exobridge-mock[redis]'"
    shown = shown_url(store)
    try:
        parts = urlsplit(store)
        if parts.scheme not in STORE_SCHEMES:
            return f"--store {shown}: expected a redis://HOST:PORT/DB URL"
        if parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip(
                "/").isdigit():
            return f"--store {shown}: the database is a number (redis://HOST:PORT/0)"
        _ = parts.port  # a port out of range raises here
        redis.connection.parse_url(store)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        reason = str(exc)
        for secret in re.findall(r":([^:@/]+)@|pass\w*=([^&]+)", store):
            for part in filter(None, secret):
                reason = reason.replace(part, "***")
        return f"--store {shown}: {reason[:100]}"
    return None


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
    if store:
        problem = _store_url_problem(store)
        if problem is not None:
            return problem
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
        exit_with_parent()
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
        except StoreUnavailable as exc:
            return None, f"cannot use the store at {shown_url(store)}: {exc}"
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
    """Starts the workers on the one socket; starts another when one ends unasked (killed,
    crashed), waiting longer each time one ends soon after its start (a store that is down);
    stops them all on SIGTERM or SIGINT, killing those that have not ended after a grace."""
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

    workers: dict[int, Worker] = {i: Worker(start(), time.monotonic()) for i in range(args.workers)}
    stopping: list[float] = []  # when the stop was asked

    def stop(signum: int, frame: object) -> None:
        if not stopping:
            stopping.append(time.monotonic())

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while workers:
            time.sleep(0.1)
            if stopping:
                _stop_workers(workers, stopping[0])
                continue
            now = time.monotonic()
            for index, worker in list(workers.items()):
                if worker.process is None:
                    if now >= worker.restart_at:
                        workers[index] = Worker(start(), now, worker.quick_ends)
                    continue
                code = worker.process.poll()
                if code is None:
                    continue
                quick = now - worker.started < QUICK_END_SECONDS
                ends = worker.quick_ends + 1 if quick else 0
                wait = min(RESTART_WAIT_MAX, 0.5 * 2 ** ends) if ends else 0.0
                print(f"exomock: worker {index} (pid {worker.process.pid}) ended with status "
                      f"{code}; starting another" + (f" in {wait:g} s" if wait else ""),
                      file=sys.stderr)
                workers[index] = Worker(None, worker.started, ends, now + wait)
    finally:
        listener.close()
    return 0


class Worker:
    """One worker of the supervisor: its process (None while waiting to start another)."""

    def __init__(
        self, process: subprocess.Popen[bytes] | None, started: float, quick_ends: int = 0,
        restart_at: float = 0.0,
    ) -> None:
        self.process = process
        self.started = started
        self.quick_ends = quick_ends
        self.restart_at = restart_at
        self.signalled = False


def _stop_workers(workers: dict[int, Worker], asked_at: float) -> None:
    """One round of stopping: SIGTERM to each worker not yet told, SIGKILL to those still
    running after the grace; the ended ones leave `workers`."""
    late = time.monotonic() - asked_at > STOP_GRACE_SECONDS
    for index, worker in list(workers.items()):
        process = worker.process
        if process is None or process.poll() is not None:
            del workers[index]
        elif late:
            process.kill()
        elif not worker.signalled:
            process.send_signal(signal.SIGTERM)
            worker.signalled = True


def exit_with_parent() -> None:
    """In a worker: stop when the supervisor is gone (killed with SIGKILL, it cannot stop its
    workers itself), rather than serve on, unsupervised."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="exomock-parent", daemon=True).start()
