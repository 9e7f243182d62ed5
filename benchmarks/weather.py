"""The full contract suite against the mock, plain and through each kind of weather.

    python benchmarks/weather.py                 # every kind, the full suite
    python benchmarks/weather.py throttled -k scenario

Each run gets a fresh mock (`exomock serve`) and, but for the plain run, a `WeatherProxy` in
front of it; the table gives the run's exit status, its time against the plain run, and what
the weather did (requests seen, 429s, 503s, resets).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract_tests.ci.weather_proxy import Weather, WeatherProxy  # noqa: E402
from mock_server.testing import free_port  # noqa: E402

# The three kinds of weather, at full size.
KINDS: dict[str, Weather | None] = {
    "plain": None,
    "throttled": Weather(throttle_every=5, retry_after=1, latency=0.05),
    "blips": Weather(reset=0.01, unavailable=0.01, seed=21),
    "slow": Weather(latency=0.5),
}


def start_mock() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", str(port), "--seed", "3",
         "--log-level", "warning"], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/_mock/clock", timeout=1)
            return base, process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the mock did not start")


def run(kind: str, extra: list[str]) -> tuple[int, float, dict[str, int]]:
    base, mock = start_mock()
    weather = KINDS[kind]
    try:
        if weather is None:
            return (*_suite(base, extra), {})
        with WeatherProxy(base, weather) as proxy:
            code, seconds = _suite(proxy.url, extra)
            return code, seconds, dict(proxy.counts)
    finally:
        mock.terminate()
        mock.wait()


def _suite(base_url: str, extra: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests", "-n", "0", "-q", "-p",
         "no:cacheprovider", "--base-url", base_url, *extra],
        cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    said = ("contract:", "UNAVAILABLE", "SKIP", "FAIL")
    tail = [line for line in result.stdout.splitlines() if line.startswith(said)]
    print("\n".join(tail), flush=True)
    return result.returncode, seconds


def main() -> None:
    args = sys.argv[1:]
    kinds = [a for a in args if a in KINDS] or list(KINDS)
    extra = [a for a in args if a not in KINDS]
    if "plain" not in kinds:
        kinds.insert(0, "plain")
    results = {kind: run(kind, extra) for kind in kinds}
    plain = results["plain"][1]
    print(f"{'run':<10} {'exit':>4} {'seconds':>8} {'x plain':>8}  weather")
    for kind, (code, seconds, counts) in results.items():
        done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "affected")
        print(f"{kind:<10} {code:>4} {seconds:>8.1f} {seconds / plain:>8.2f}  {done}")


if __name__ == "__main__":
    main()
