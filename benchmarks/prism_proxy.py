"""Prism `proxy` in front of the mock, over the contract scenarios: what Prism flags, judged.

    npm install --prefix .tools @stoplight/prism-cli
    python benchmarks/prism_proxy.py [--prism .tools/node_modules/.bin/prism] [--json out.json]

Starts the mock (`python -m mock_server serve`) and `prism proxy openapi/exobridge.yaml` before
it, then runs `pytest contract_tests -k test_scenario` with the API calls through Prism and the
control plane (`/_mock/`, not part of `exobridge.yaml`) straight to the mock. Each request Prism
logs is matched, in order, to the scenario step that sent it (`--step-log`). The run is clean
when Prism flagged a request violation on every step marked `breaks_spec` (the requests the
scenarios send invalid on purpose, to see the documented refusal) and on no other request, and
no response violation at all. Exit status 0 when clean, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "exobridge.yaml"
DEFAULT_PRISM = ROOT / ".tools" / "node_modules" / ".bin" / "prism"
RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
VIOLATION = re.compile(r"Violation: (request|response)\S* (.*)$")


@dataclass
class Exchange:
    """One request as Prism logged it, with the violations it reported for it."""

    method: str
    path: str
    request: list[str] = field(default_factory=list)
    response: list[str] = field(default_factory=list)


def read_prism_log(text: str) -> list[Exchange]:
    exchanges: list[Exchange] = []
    for line in text.splitlines():
        received = RECEIVED.search(line)
        if received:
            exchanges.append(Exchange(received.group(1).upper(), received.group(2).split("?")[0]))
            continue
        violation = VIOLATION.search(line)
        if violation and exchanges:
            kind, message = violation.groups()
            (exchanges[-1].request if kind == "request" else exchanges[-1].response).append(message)
    return exchanges


def judge(exchanges: list[Exchange], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Match the steps to Prism's exchanges in order; the exchanges no step sent (the suite's
    preflight, its clean-up deletions) must be clean too."""
    expected, unexpected, missed, others = [], [], [], []
    position = 0
    for step in steps:
        while position < len(exchanges) and (
            exchanges[position].method, exchanges[position].path
        ) != (step["method"], step["path"]):
            others.append(exchanges[position])
            position += 1
        if position == len(exchanges):
            raise SystemExit(f"Prism did not log the step {step['step']!r} ({step['path']})")
        exchange = exchanges[position]
        position += 1
        name = f"{step['scenario']}: {step['step']}"
        if exchange.request and step["breaks_spec"]:
            expected.append({"step": name, "violations": exchange.request})
        elif exchange.request:
            unexpected.append({"step": name, "violations": exchange.request})
        elif step["breaks_spec"]:
            missed.append(name)
    others.extend(exchanges[position:])
    unexpected += [{"step": f"(no step) {x.method} {x.path}", "violations": x.request}
                   for x in others if x.request]
    responses = [{"request": f"{x.method} {x.path}", "violations": x.response}
                 for x in exchanges if x.response]
    return {
        "requests_through_prism": len(exchanges),
        "scenario_requests": len(steps),
        "steps_breaking_the_spec": sum(1 for step in steps if step["breaks_spec"]),
        "expected_request_violations": len(expected),
        "unexpected_request_violations": unexpected,
        "breaking_steps_not_flagged": missed,
        "response_violations": responses,
        "flagged": expected,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not listen within 60 s")


def run(prism: Path, workdir: Path) -> dict[str, Any]:
    mock_port, prism_port = free_port(), free_port()
    log_path, steps_path = workdir / "prism.log", workdir / "steps.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    mock = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(mock_port), "--seed", "1",
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    with log_path.open("wb") as log:
        proxy = subprocess.Popen(
            [str(prism), "proxy", str(SPEC), f"http://127.0.0.1:{mock_port}",
             "--port", str(prism_port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(mock_port, mock, "the mock")
            wait_for_port(prism_port, proxy, "Prism")
            suite = subprocess.run(
                [sys.executable, "-m", "pytest", "contract_tests", "-q", "-n", "0",
                 "-p", "no:cacheprovider", "-k", "test_scenario",
                 "--base-url", f"http://127.0.0.1:{prism_port}",
                 "--control-url", f"http://127.0.0.1:{mock_port}",
                 "--step-log", str(steps_path)],
                cwd=ROOT, env=env, capture_output=True, text=True, check=False,
            )
            time.sleep(1)  # Prism logs a response's violations after forwarding it
        finally:
            for process in (proxy, mock):
                process.terminate()
                process.wait(timeout=30)
    if not steps_path.exists():
        raise SystemExit(f"the contract scenarios sent nothing:\n{suite.stdout[-2000:]}")
    steps = [json.loads(line) for line in steps_path.read_text(encoding="utf-8").splitlines()]
    result = judge(read_prism_log(log_path.read_text(encoding="utf-8")), steps)
    result["contract_suite"] = suite.stdout.strip().splitlines()[-1] if suite.stdout else ""
    result["contract_suite_passed"] = suite.returncode == 0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prism", type=Path, default=DEFAULT_PRISM)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if not args.prism.exists():
        print(f"no Prism at {args.prism}: npm install --prefix .tools @stoplight/prism-cli")
        return 2
    with tempfile.TemporaryDirectory() as workdir:
        result = run(args.prism, Path(workdir))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"contract scenarios: {result['contract_suite']}")
    print(f"requests through Prism: {result['requests_through_prism']} "
          f"({result['scenario_requests']} scenario steps, "
          f"{result['steps_breaking_the_spec']} of them breaking the spec on purpose)")
    print(f"expected request violations (steps marked breaks_spec): "
          f"{result['expected_request_violations']}")
    for name in ("unexpected_request_violations", "breaking_steps_not_flagged",
                 "response_violations"):
        print(f"{name.replace('_', ' ')}: {len(result[name])}")
        for item in result[name]:
            print(f"  {item}")
    clean = result["contract_suite_passed"] and not any(
        result[name] for name in ("unexpected_request_violations", "breaking_steps_not_flagged",
                                  "response_violations")
    )
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
