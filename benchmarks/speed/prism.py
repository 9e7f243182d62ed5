"""Prism on the same spec, with the same create script."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .common import (
    CREDENTIALS,
    GREENPIN_PATH,
    OFFSET_MEASURE,
    OFFSET_WARMUP,
    PRISM_BIN,
    PRISM_DIR,
    SPEC,
    log,
)
from .machine import command_version
from .servers import Server, free_port, pinned
from .wrk import Wrk, default_vns, write_data


def prepared_spec(workdir: Path) -> Path:
    """A copy of the spec Prism can load: externalValue examples inlined, webhooks removed."""
    spec = yaml.safe_load(SPEC.read_text())

    def inline(node: Any, base: Path) -> Any:
        if isinstance(node, dict):
            if "externalValue" in node and "value" not in node:
                target = (base / node["externalValue"]).resolve()
                copy = {k: v for k, v in node.items() if k != "externalValue"}
                with contextlib.suppress(OSError, ValueError):
                    copy["value"] = json.loads(target.read_text())
                return copy
            return {k: inline(v, base) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, base) for v in node]
        return node

    spec = inline(spec, SPEC.parent)
    spec.pop("webhooks", None)
    out = workdir / "prism" / "exobridge.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return out


def smoke_create(url: str, vn: str) -> int:
    body = json.dumps(
        {
            "transaction_id": "bench-smoke",
            "a": {"vns": [vn], "numbers": ["9800000000"], "pin_length": 6},
            "b": {"numbers": ["9900000000"]},
        }
    ).encode()
    auth = base64.b64encode(":".join(CREDENTIALS).encode()).decode()
    request = urllib.request.Request(
        url + GREENPIN_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def install_prism() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    log("installing @stoplight/prism-cli into benchmarks/.prism")
    subprocess.run(
        [npm, "install", "--prefix", str(PRISM_DIR), "--no-audit", "--no-fund",
         "@stoplight/prism-cli"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def run_prism(args: argparse.Namespace, workdir: Path, report: dict[str, Any]) -> None:
    prism: dict[str, Any] = {}
    report["prism"] = prism
    if not PRISM_BIN.exists() and args.install_prism:
        try:
            install_prism()
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            prism["skipped"] = f"installing Prism failed: {exc}"
    if not PRISM_BIN.exists():
        prism.setdefault(
            "skipped",
            "Prism is not installed (npm install --prefix benchmarks/.prism @stoplight/prism-cli,"
            " or run with --install-prism)",
        )
        log("prism: " + prism["skipped"])
        return
    if shutil.which("node") is None:
        prism["skipped"] = "node is not installed"
        return
    prism["version"] = command_version([str(PRISM_BIN), "--version"])
    vns = default_vns()
    attempts = [("the spec as it is", SPEC)]
    server = None
    for description, spec_path in attempts:
        port = free_port()
        command = pinned(
            args.server_cpu,
            [str(PRISM_BIN), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "silent",
             str(spec_path)],
        )  # fmt: skip
        candidate = Server("prism", command, port, workdir / "prism.log")
        try:
            started = time.monotonic()
            candidate.start(timeout=90)
            status = smoke_create(candidate.url, vns[0])
            if status >= 500:
                raise RuntimeError(f"a valid create was answered {status}")
        except RuntimeError as exc:
            candidate.stop()
            note = f"Prism could not serve {description}: {str(exc).splitlines()[0][:200]}"
            log("prism: " + note)
            prism.setdefault("notes", []).append(note)
            if spec_path == SPEC:
                attempts.append(
                    (
                        "a prepared copy (externalValue examples inlined, webhooks removed)",
                        prepared_spec(workdir),
                    )
                )
            continue
        prism["spec"] = description
        prism["startup_s"] = time.monotonic() - started
        server = candidate
        break
    if server is None:
        prism["skipped"] = "Prism could not run: " + "; ".join(prism.get("notes", []))
        log("prism: " + prism["skipped"])
        return
    log(f"prism: serving {prism['spec']} (started in {prism['startup_s']:.1f} s)")
    wrk = Wrk(args.client_cpu, args.threads, args.connections, workdir, args.quiet)
    data = write_data(workdir / "prism_vns.lua", vns, [])
    t = str(args.threads)
    try:
        log(f"prism: warm-up create, {args.warmup} s")
        wrk.run("prism create warm-up", server, "create.lua", args.warmup,
                [str(data), str(OFFSET_WARMUP), t], measured=False)  # fmt: skip
        log(f"prism: create, {args.duration} s")
        result = wrk.run("prism create", server, "create.lua", args.duration,
                         [str(data), str(OFFSET_MEASURE), t])  # fmt: skip
        log("  " + result.summary())
        prism["create"] = result
    finally:
        server.stop()
