"""The dashboard with 100,000 allocations in the store: time to the page's first data, the cost
of the reads it polls, and the page's weight.

A mock on a free loopback port, its store filled directly (`Store.save`, the allocations as a
GreenPin create builds them: E.164 numbers, one VN, a PIN, 180 days); then headless Chromium
(Debian's `chromium` and `chromedriver`, driven by Selenium) opens `/_mock/ui` several times. The
time to first data is the page's own mark, set when the first page of allocations is on screen,
measured from the start of the navigation.

    python benchmarks/dashboard.py [--allocations 100000] [--loads 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from typing import Any

import httpx

from mock_server.domain.allocations import ACTIVE, GREENPIN, TWOWAY, Allocation
from mock_server.routes.dashboard import ASSETS
from mock_server.settings import Settings
from mock_server.store.memory import MemoryStore
from mock_server.testing import MockServer

TENANT = "demo"
LIFETIME = 180 * 86400
FIRST_DATA_TARGET_MS = 1000
WEIGHT_TARGET_BYTES = 200_000


def filled_store(count: int, vns: list[str]) -> MemoryStore:
    store = MemoryStore()
    start = time.time() - count
    for i in range(count):
        vn = vns[i % len(vns)]
        store.save(Allocation(
            kind=GREENPIN, tenant_id=TENANT, id=f"bench-{i:08d}", ref=f"order-{i}",
            a_numbers=(f"+9190{i:08d}",), a_vns=(vn,), a_pins=(f"{i:06d}",),
            b_numbers=(f"+9180{i:08d}",), b_vns=(vn,), b_pins=(),
            usage=TWOWAY, state=ACTIVE, created_at=start + i, deallocate_at=start + i + LIFETIME,
        ))
    return store


def timed_get(client: httpx.Client, path: str, params: dict[str, Any], runs: int = 20) -> float:
    """The median time of a GET, in milliseconds."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return statistics.median(times)


def page_weight(client: httpx.Client) -> dict[str, int]:
    weight = {"page": len(client.get("/_mock/ui").content)}
    for name in ASSETS:
        weight[name] = len(client.get(f"/_mock/ui/assets/{name}").content)
    return weight


def first_data_ms(base_url: str, loads: int) -> list[float] | None:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    found = []
    try:
        for _ in range(loads):
            driver.get("about:blank")
            driver.get(base_url + "/_mock/ui")
            WebDriverWait(driver, 10, poll_frequency=0.02).until(
                lambda d: d.execute_script(
                    "return performance.getEntriesByName('exomock-first-data').length"))
            found.append(float(driver.execute_script(
                "return performance.getEntriesByName('exomock-first-data')[0].startTime")))
    finally:
        driver.quit()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allocations", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()

    settings = Settings.load()
    vns = [n.number for n in settings.tenants[TENANT].numbers]
    began = time.perf_counter()
    store = filled_store(args.allocations, vns)
    print(f"store filled with {args.allocations:,} allocations in "
          f"{time.perf_counter() - began:.1f} s")
    with MockServer(settings, store=store) as mock, httpx.Client(base_url=mock.base_url,
                                                                 timeout=30) as client:
        reads = {
            "first page of allocations (50)": ("/_mock/allocations", {"tenant_id": TENANT}),
            "page 1,000 of allocations": ("/_mock/allocations", {"page": 1000}),
            "search by a number (a full pass)": ("/_mock/allocations", {"q": "+919000050000"}),
            "search by a PIN": ("/_mock/allocations", {"q": "077777"}),
            "overview (polled every second)": ("/_mock/overview", {}),
        }
        for name, (path, params) in reads.items():
            print(f"{name}: median {timed_get(client, path, params):.1f} ms")
        weight = page_weight(client)
        total = sum(weight.values())
        parts = ", ".join(f"{name} {size:,} B" for name, size in weight.items())
        verdict = "met" if total < WEIGHT_TARGET_BYTES else "MISSED"
        print(f"page weight: {total:,} B ({parts}); target under 200 KB: {verdict}")
        loads = first_data_ms(mock.base_url, args.loads)
        if loads is None:
            print("time to first data: not measured (chromium and chromedriver are needed)")
            return
        worst = max(loads)
        verdict = "met" if worst < FIRST_DATA_TARGET_MS else "MISSED"
        print(f"time to first data over {len(loads)} loads: median "
              f"{statistics.median(loads):.0f} ms, worst {worst:.0f} ms; target under 1 s: "
              f"{verdict}")


if __name__ == "__main__":
    main()
