"""`exomock`: serve the mock (`serve`), print and send fake callbacks (`fake`), or check a
server against the contract (`check`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .serve import add_arguments as add_serve_arguments
from .serve import run as serve_command

if TYPE_CHECKING:
    import httpx


CHECK_EXIT_STATUS = """exit status:
  0  passed: every test that ran found the contract kept
  1  contract broken: at least one test failed
  3  could not judge: no test failed, but the server was unavailable for some (429/503 or
     dropped connections past --request-retries/--max-wait/--wait-budget); they are listed apart
  4  not started: the server cannot be reached, or refuses the credentials"""
# What the contract suite runs on (the `test` extra).
CHECK_NEEDS = ("pytest", "schemathesis", "pytest_httpserver")


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    """`field=value` pairs; a value is JSON when it parses as JSON, a string otherwise."""
    overrides: dict[str, Any] = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE (dots for nested fields)")
        try:
            overrides[path] = json.loads(text)
        except ValueError:
            overrides[path] = text
    return overrides


def _send(client: httpx.Client, url: str, event: str, payload: dict[str, Any]) -> bool:
    """Delivers one payload as the provider would; whether it was answered with a 2xx."""
    import httpx

    headers = {"user-agent": "exomock-fake", "x-exomock-event": event}
    started = time.perf_counter()
    try:
        if event == "connect_applet_request":
            # The provider asks a Connect applet's URL with a GET, the members as query parameters.
            response = client.get(url, params=payload, headers=headers)
        else:
            response = client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        print(f"exomock: {event} -> {url}: error after {elapsed:.0f} ms: {reason}", file=sys.stderr)
        return False
    elapsed = (time.perf_counter() - started) * 1000
    print(f"exomock: {event} -> {url}: {response.status_code} in {elapsed:.0f} ms", file=sys.stderr)
    return 200 <= response.status_code < 300


def _fake(args: argparse.Namespace) -> int:
    from .fakes import EVENTS, fake_many

    if args.list:
        print("\n".join(EVENTS))
        return 0
    if args.event not in EVENTS:
        given = "no event given" if args.event is None else f"unknown event {args.event!r}"
        print(f"exomock: {given}; the events are:", *EVENTS, sep="\n  ", file=sys.stderr)
        return 2
    if args.count < 0:
        print("exomock: --count must be 0 or more", file=sys.stderr)
        return 2
    try:
        overrides = _parse_set(args.set)
    except ValueError as exc:
        print(f"exomock: {exc}", file=sys.stderr)
        return 2
    try:
        payloads = fake_many(args.event, args.count, seed=args.seed, overrides=overrides)
    except ValueError as exc:
        hint = ""
        if any(not isinstance(value, str) for value in overrides.values()):
            hint = " (values are read as JSON: quote a string of digits, --set 'pin=\"1234\"')"
        print(f"exomock: {exc}{hint}", file=sys.stderr)
        return 2
    failures = 0
    client: httpx.Client | None = None
    if args.send:
        import httpx

        client = httpx.Client(timeout=10.0)
    try:
        for payload in payloads:
            print(json.dumps(payload, ensure_ascii=False), flush=True)
            if client is not None and not _send(client, args.send, args.event, payload):
                failures += 1
    finally:
        if client is not None:
            client.close()
    if failures:
        print(f"exomock: {failures} of {len(payloads)} deliveries failed", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Runs the contract suite (`contract_tests`) against a server; pytest's exit code."""
    import importlib.util
    import subprocess
    from pathlib import Path

    spec = importlib.util.find_spec("contract_tests")
    if spec is None or spec.origin is None:
        print("exomock: the contract_tests package is not installed", file=sys.stderr)
        return 2
    missing = [name for name in CHECK_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        print(f"exomock: check needs {', '.join(missing)}, from the test extra: "
              "pip install 'exobridge-mock[test]'", file=sys.stderr)
        return 2
    suite = Path(spec.origin).resolve().parent
    options = [str(suite), "-p", "no:cacheprovider", "-o", "addopts=-ra", "-q"]
    for flag, value in (
        ("--base-url", args.base_url), ("--tenant", args.tenant), ("--api-key", args.api_key),
        ("--api-token", args.api_token), ("--account-sid", args.account_sid),
        ("--examples", args.examples), ("--seed", args.seed),
        ("--request-budget", args.request_budget), ("--vns", args.vns),
        ("--callback-url", args.callback_url), ("--junitxml", args.junitxml),
        ("--control-token", args.control_token), ("--request-timeout", args.request_timeout),
        ("--id-prefix", args.id_prefix),
        ("--request-retries", args.request_retries), ("--max-wait", args.max_wait),
        ("--wait-budget", args.wait_budget),
    ):
        if value is not None:
            options += [flag, str(value)]
    if args.no_destructive:
        options.append("--no-destructive")
    import tempfile

    # A separate interpreter, so that pytest imports (and rewrites) the suite itself; what
    # hypothesis keeps between runs goes to a folder removed afterwards, not the user's folder.
    with tempfile.TemporaryDirectory(prefix="exomock-check-") as scratch:
        env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": scratch}
        return subprocess.call([sys.executable, "-m", "pytest", *options, *extra], env=env)


def _check_handler(args: argparse.Namespace) -> int:
    """Checks a consumer's webhook handler; 0 when every check passed, 1 otherwise."""
    from .handler_check import HandlerCheckError, check_handler

    if args.junitxml is not None and (problem := _junit_problem(args.junitxml)) is not None:
        print(f"exomock: --junitxml {problem}", file=sys.stderr)
        return 2
    try:
        report = check_handler(
            # "a,b" as given: an empty list or item is refused, not taken for every event.
            args.url, events=args.events, connect_url=args.connect_url,
            secret=args.secret or os.environ.get("EXOMOCK_HANDLER_SECRET") or None,
            timeout=args.timeout, burst=args.burst,
            # Each line as its check ends: a slow handler's run takes a while.
            on_line=lambda line: print(line, flush=True),
        )
    except HandlerCheckError as exc:
        print(f"exomock: {exc}", file=sys.stderr)
        return 2
    if args.junitxml is not None:
        try:
            report.write_junit(args.junitxml)
        except OSError as exc:
            print(f"exomock: cannot write --junitxml {args.junitxml!r}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
    return 0 if report.ok else 1


def _junit_problem(path: str) -> str | None:
    """Why the JUnit report could not be written there, known before anything is sent."""
    target = Path(path)
    if target.is_dir():
        return f"{path!r} is a folder; give a file"
    folder = target.parent
    if not folder.is_dir():
        return f"{path!r}: the folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path!r}: the folder {str(folder)!r} is not writable"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exomock", description="A stateful mock of Exotel's ExoBridge and calling APIs."
    )
    parser.add_argument("--version", action="version", version=f"exomock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the mock server")
    add_serve_arguments(serve)
    serve.set_defaults(run=serve_command)

    fake = commands.add_parser(
        "fake",
        help="print realistic fake callback payloads (JSON Lines), or send them to a URL",
        description="Prints fake payloads of EVENT, one JSON document per line, each valid "
        "against openapi/callbacks/EVENT.schema.json.",
    )
    fake.add_argument("event", nargs="?", metavar="EVENT", help="the event (see --list)")
    fake.add_argument("--list", action="store_true", help="list the events and exit")
    fake.add_argument("--count", type=int, default=1, help="how many payloads (default 1)")
    fake.add_argument("--seed", type=int, help="seed, for the same payloads on every run")
    fake.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a field (a.b.0.c for nested ones) in every payload; VALUE is JSON if it "
        "parses, else a string; repeatable",
    )
    fake.add_argument(
        "--send",
        metavar="URL",
        help="also deliver each payload to URL (POST JSON; GET with query parameters for "
        "connect_applet_request); exit 1 if any answer is not 2xx",
    )
    fake.set_defaults(run=_fake)

    check = commands.add_parser(
        "check",
        help="run the contract suite against a server (the mock when no --base-url)",
        description="Runs contract_tests against a server. Options not listed here are passed "
        "to pytest (e.g. -k, -x, -v). Each option also reads an EXOBRIDGE_* environment "
        "variable; see the README.",
        epilog=CHECK_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--base-url", help="server to check (default: start the mock)")
    check.add_argument("--tenant", help="tenant id (default demo)")
    check.add_argument("--api-key", help="Basic user name")
    check.add_argument("--api-token", help="Basic password")
    check.add_argument("--account-sid", help="account of the calls API (default: the tenant)")
    check.add_argument("--vns", help="comma-separated VNs of the tenant, for the scenarios")
    check.add_argument("--examples", type=int, help="generated examples per operation")
    check.add_argument("--seed", type=int, help="seed, for a reproducible run")
    check.add_argument("--request-budget", type=int, help="most requests the run may make")
    check.add_argument("--callback-url", help="public URL of the callback sink")
    check.add_argument("--id-prefix",
                       help="prefix of every transaction/connection id the run creates (exoct-)")
    check.add_argument("--junitxml", help="write a JUnit XML report here")
    check.add_argument("--control-token", help="the mock's control token, for /_mock/")
    check.add_argument("--request-timeout", type=float, metavar="SECONDS",
                       help="seconds one attempt may take to connect, and to answer (default 30)")
    check.add_argument("--request-retries", type=int, metavar="N",
                       help="attempts after the first for a request answered 429 or 503, or "
                       "whose connection dropped (default 5)")
    check.add_argument("--max-wait", type=float, metavar="SECONDS",
                       help="seconds one request may wait in all between attempts (default 180)")
    check.add_argument("--wait-budget", type=float, metavar="SECONDS",
                       help="seconds the whole run may spend waiting for the server "
                       "(default 1800)")
    check.add_argument("--no-destructive", action="store_true",
                       help="only reads and validation; create nothing")
    check.set_defaults(run=_check)

    handler = commands.add_parser(
        "check-handler",
        help="check your webhook handler against what the provider really sends",
        description="Sends realistic callbacks to URL as the provider does (every outcome, "
        "duplicates, reordering, a burst, an unknown member, signatures) and judges the answers; "
        "exit 1 if any check fails. See the README.",
    )
    handler.add_argument("--url", required=True,
                         help="where the handler takes callbacks; {event} in it is replaced by "
                         "the event's name")
    handler.add_argument("--events", metavar="E,...",
                         help="comma-separated events to send (default: every POSTed event)")
    handler.add_argument("--secret", metavar="WHSEC",
                         help="the handler's signing secret (whsec_..., as the mock's "
                         "signing_secret; env EXOMOCK_HANDLER_SECRET): sign every delivery and "
                         "check that forged ones are refused")
    handler.add_argument("--connect-url", metavar="URL",
                         help="a programmable Connect applet URL to check")
    handler.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS",
                         help="seconds one exchange may take as a whole, more than 0 and at most "
                         "300 (default 15; the applet: 5 at most)")
    handler.add_argument("--burst", type=int, default=20, metavar="N",
                         help="deliveries of the burst check, 1 to 1000, sent by up to 16 "
                         "concurrent senders (default 20)")
    handler.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report here")
    handler.set_defaults(run=_check_handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "check":
        return _check(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return result
