"""The pytest plugin's fixtures, used as a consumer of the project would use them."""

from __future__ import annotations

import httpx


def test_readme_example(exobridge_mock, callback_sink, fake_callback):
    # Real: the mock sends the callback when the allocation's time runs out.
    exobridge_mock.set_callback_urls({"deallocation": callback_sink.url_for("deallocation")})
    body = {"transaction_id": "order-9", "deallocation_policy": {"duration": "60s"},
            "a": {"numbers": ["9876500001"], "vns": ["6292134464"]},
            "b": {"numbers": ["9876500002"]}}
    created = httpx.post(exobridge_mock.url("/v1/tenants/demo/greenpin"), json=body,
                         auth=exobridge_mock.auth)
    assert created.status_code == 200
    exobridge_mock.advance_clock(60)
    real = callback_sink.wait_for("deallocation")
    assert real.errors == []
    assert real.payload["transaction_id"] == "order-9"

    # Fake: any number of realistic payloads, without creating anything.
    fake = fake_callback("deallocation", seed=1, transaction_id="order-10")
    assert httpx.post(callback_sink.url_for("deallocation"), json=fake).status_code == 200
    assert callback_sink.wait_for(
        "deallocation", where=lambda p: p["transaction_id"] == "order-10"
    ).errors == []


def test_the_mock_is_reset_between_tests(exobridge_mock):
    listing = httpx.get(exobridge_mock.url("/v1/tenants/demo/greenpin"), auth=exobridge_mock.auth)
    assert listing.json()["metadata"]["total"] == 0
    assert exobridge_mock.callbacks() == []
    assert exobridge_mock.clock()["offset_seconds"] == 0


def test_fake_callbacks_reach_the_sink_valid(fake_callback, callback_sink):
    payload = fake_callback("call_completed", seed=5)
    response = httpx.post(callback_sink.url_for("call_completed"), json=payload)
    assert response.status_code == 200
    assert callback_sink.wait_for("call_completed").errors == []


def test_the_sink_reports_invalid_payloads(callback_sink):
    httpx.post(callback_sink.url_for("deallocation"), json={"greenpin_id": 5})
    received = callback_sink.wait_for("deallocation")
    assert any("greenpin_id" in error or "required" in error for error in received.errors)


def test_readme_example_passes_outside_the_repository(tmp_path):
    """The README's example as a user copies it: the code block alone, in a folder of its own
    (no conftest of this project), run by pytest with the installed plugin."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### pytest plugin"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    (tmp_path / "test_example.py").write_text(code.group(1))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "test_example.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert "1 passed" in run.stdout
