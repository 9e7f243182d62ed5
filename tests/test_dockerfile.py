"""The Dockerfile's commands, run as the image would run them (building the image needs a
registry this project's CI does not reach): what it copies exists, its entry point serves with a
control token and refuses to start without one, and its health check passes once it serves."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from mock_server.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instruction(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.replace("\\\n", " ").splitlines()
            if line.startswith(name + " ")]


def exec_form(text: str) -> list[str]:
    """The JSON array of an instruction's exec form (after its options)."""
    items: list[str] = json.loads(text[text.index("["):])
    return items


def test_what_the_image_copies_exists():
    for copy in instruction("COPY"):
        *sources, _ = shlex.split(copy)
        for source in sources:
            assert (ROOT / source).exists(), source


def test_the_entry_point_serves_with_a_token_and_its_health_check_passes():
    port = free_port("0.0.0.0")
    command = exec_form(instruction("ENTRYPOINT")[0])
    assert command[:2] == ["exomock", "serve"]
    args = [a if a != "8000" else str(port) for a in command[1:]]
    python = [sys.executable, "-m", "mock_server"]
    env = {k: v for k, v in os.environ.items() if k != "EXOMOCK_CONTROL_TOKEN"}

    refused = subprocess.run([*python, *args], env=env, capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 2
    assert "give --control-token (or EXOMOCK_CONTROL_TOKEN)" in refused.stderr

    check = exec_form(instruction("HEALTHCHECK")[0])
    assert check[0] == "python"
    probe = [sys.executable, *[c.replace(":8000/", f":{port}/") for c in check[1:]]]
    server = subprocess.Popen([*python, *args], env={**env, "EXOMOCK_CONTROL_TOKEN": "t" * 24},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(probe, capture_output=True).returncode != 0:
            assert server.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)
    # Once it has stopped, the same check fails: it does look at the server.
    assert subprocess.run(probe, capture_output=True).returncode != 0


def test_the_compose_example_runs_workers_on_its_redis():
    """examples/compose.yaml: the image's entry point with the service's command parses as an
    `exomock serve` with workers, and the store it names is the Redis service."""
    import yaml

    from mock_server.cli import build_parser
    from mock_server.serve import STORE_SCHEMES

    compose = yaml.safe_load((ROOT / "examples" / "compose.yaml").read_text())
    mock, redis = compose["services"]["exomock"], compose["services"]["redis"]
    entry = exec_form(instruction("ENTRYPOINT")[0])
    args = build_parser().parse_args([*entry[1:], *mock["command"]])
    assert args.workers > 1
    store = mock["environment"]["EXOMOCK_STORE"]
    assert store.split("://")[0] in STORE_SCHEMES
    assert store.split("//")[1].split(":")[0] == "redis"
    assert "EXOMOCK_CONTROL_TOKEN" in mock["environment"]
    assert redis["command"][0] == "redis-server"
    assert mock["build"] == ".."
