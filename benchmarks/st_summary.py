"""The figures of a schemathesis run, from its NDJSON report.

    st run openapi/exobridge.yaml --url http://127.0.0.1:8000 -a demo_key:demo_token \
        --report ndjson --report-ndjson-path st.ndjson
    python benchmarks/st_summary.py st.ndjson

Prints the links the stateful phase followed (counted as the CLI's summary counts them: a case
made from a link whose values were applied), the operations that got a 2xx answer (in any
phase), and each failing check with the operation, the status and the start of the answer.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "exobridge.yaml"
METHODS = ("get", "put", "post", "delete", "patch")


def answer_text(response: dict[str, Any]) -> str:
    content = response.get("content") or {}
    if "$base64" in content:
        return base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    return str(content.get("text", ""))


def summarise(events: list[dict[str, Any]]) -> dict[str, Any]:
    links: set[str] = set()
    answered: dict[str, set[int]] = {}
    failures: Counter[str] = Counter()
    for event in events:
        scenario = event.get("ScenarioFinished")
        if scenario is None:
            continue
        recorder = scenario["recorder"]
        for case_id, case in recorder.get("cases", {}).items():
            value = case["value"]
            label = f"{value['method']} {value['path']}"
            if case.get("transition") and case.get("is_transition_applied"):
                links.add(case["transition"]["id"])
            interaction = recorder.get("interactions", {}).get(case_id)
            if not interaction or not interaction.get("response"):
                continue
            status = interaction["response"]["status_code"]
            answered.setdefault(label, set()).add(status)
            for check in recorder.get("checks", {}).get(case_id, ()):
                if check["status"] == "failure":
                    text = " ".join(answer_text(interaction["response"]).split())[:160]
                    failures[f"{check['name']} {label} {status}: {text}"] += 1
    return {"links": sorted(links), "answered": answered, "failures": failures}


def operations() -> list[str]:
    import yaml

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items()
            for method in item if method in METHODS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the NDJSON report of `st run`")
    args = parser.parse_args()
    lines = args.report.read_text(encoding="utf-8").splitlines()
    found = summarise([json.loads(line) for line in lines if line.strip()])
    print(f"links covered: {len(found['links'])}")
    for link in found["links"]:
        print(f"  {link}")
    every = operations()
    with_2xx = [op for op in every if any(200 <= s < 300 for s in found["answered"].get(op, ()))]
    print(f"operations with a 2xx answer: {len(with_2xx)} of {len(every)}")
    for op in every:
        if op not in with_2xx:
            print(f"  none: {op} {sorted(found['answered'].get(op, ()))}")
    print(f"failing checks: {sum(found['failures'].values())}")
    for failure, count in sorted(found["failures"].items()):
        print(f"  {count} x {failure}")


if __name__ == "__main__":
    main()
