"""The scenarios of `fixtures/scenarios/`, run step by step against the target."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Api
from .contract import Contract
from .scenarios import Scenario, Step, load_scenarios, mismatches, pick, run_variables, substitute
from .target import Target

SCENARIOS = load_scenarios()
DEFAULT_VNS = "+916292134464,+916292134465,+916292134471"


@pytest.fixture(scope="session")
def variables(target: Target, pytestconfig: pytest.Config, id_prefix: str) -> dict[str, Any]:
    vns = pytestconfig.getoption("--vns") or DEFAULT_VNS
    return run_variables(
        int(pytestconfig.getoption("--seed")), id_prefix, target.tenant_id, vns.split(",")
    )


def _problem_report(step_name: str, method: str, path: str, body: Any, response: Any,
                    problems: list[str]) -> str:
    sent = f" -d '{json.dumps(body)}'" if body is not None else ""
    return (
        f"step {step_name!r}: " + "; ".join(problems)
        + f"\n  request: curl -X {method} -u KEY:TOKEN -H 'content-type: application/json'"
        + f"{sent} '{path}'\n  answer {response.status_code}: {response.text[:500]}"
    )


def _log_step(log: str | None, scenario: Scenario, step: Step, method: str, path: str) -> None:
    if log:
        line = {"scenario": scenario.path.stem, "step": step.name, "method": method,
                "path": path, "breaks_spec": step.breaks_spec}
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.path.stem for s in SCENARIOS])
def test_scenario(scenario: Scenario, api: Api, target: Target, contract: Contract,
                  variables: dict[str, Any], destructive: bool,
                  pytestconfig: pytest.Config) -> None:
    if scenario.needs_control_plane and not target.has_control_plane:
        pytest.skip("needs the mock's control plane (/_mock/)")
    if scenario.creates and not destructive:
        pytest.skip("creates allocations; --no-destructive is set")
    if scenario.needs_control_plane and not destructive:
        pytest.skip("resets the tenant through the control plane; --no-destructive is set")
    if target.has_control_plane and scenario.needs_control_plane:
        api.control("POST", "/_mock/reset", json={"tenant_id": target.tenant_id})
    saved = dict(variables)
    for step in scenario.steps:
        for name, spec in step.generate.items():
            saved[name] = [substitute(spec["item"], saved) for _ in range(spec["count"])]
        for index in range(step.repeat):
            saved["seq"] = index
            saved["seqnumber"] = f"97{int(saved['n1']) % 10**6 + index:08d}"
            request = substitute(step.request, saved)
            method = request.get("method", "GET").upper()
            path = request["path"]
            body = request.get("body")
            if step.control:
                response = api.control(method, path, json=body)
            else:
                auth: Any = {"none": None, "wrong": (target.auth[0], "wrong-token")}.get(
                    step.auth, target.auth
                )
                kwargs: dict[str, Any] = {"params": request.get("params")}
                if body is not None:
                    kwargs["json"] = body
                if "content" in request:
                    kwargs["content"] = request["content"].encode()
                    kwargs["headers"] = request.get("headers", {})
                if step.auth != "tenant":
                    kwargs["auth"] = auth
                _log_step(pytestconfig.getoption("--step-log"), scenario, step, method, path)
                response = api.request(method, path, **kwargs)
            problems = _check(step.expect, step.operation, response, contract, saved)
            assert not problems, _problem_report(step.name, method, target.url(path), body,
                                                 response, problems)
        answer = response.json() if response.content else None
        for name, dotted in step.save.items():
            saved[name] = pick(answer, dotted)


def _check(expect: dict[str, Any], operation: str | None, response: Any, contract: Contract,
           saved: dict[str, Any]) -> list[str]:
    problems = []
    status = expect.get("status")
    if status is not None and response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    try:
        answer = response.json()
    except ValueError:
        return [*problems, "the answer is not JSON"]
    if "code" in expect:
        envelope = answer[0] if isinstance(answer, list) and answer else answer
        actual = envelope.get("code") if isinstance(envelope, dict) else None
        if actual != expect["code"]:
            problems.append(f"code {actual!r}, expected {expect['code']!r}")
    if "body" in expect:
        problems.extend(mismatches(substitute(expect["body"], saved), answer))
    if operation is not None:
        problems.extend(contract.response_errors(operation, response.status_code, answer))
    return problems
