"""The dashboard in a real headless Chromium, against a real mock on a loopback port.

One browser for the module. Screenshots of each view go to `$EXOMOCK_ARTEFACTS` (a temporary
folder when unset). Without Chromium and its driver these tests skip, except in CI (`CI=true`),
where `.ci/run` installs them and a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from mock_server.testing import MockServer

from .helpers import allocation

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOKEN = "a-control-token-of-some-length"
STRANGER = "+919876500077"
VN = "+916292134464"

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI needs chromium and chromium-driver (.ci/run installs them)",
                    pytrace=False)
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402 - only once the browser is known to be there
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("EXOMOCK_ARTEFACTS") or tmp_path_factory.mktemp("artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPServer]:
    """Where the mock's callbacks go: answers 200 to every request."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile("/.*")).respond_with_data("ok")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_mock() -> Iterator[MockServer]:
    with MockServer() as mock:
        yield mock


@pytest.fixture
def mock(module_mock: MockServer, receiver: HTTPServer) -> MockServer:
    module_mock.reset()
    module_mock.set_callback_urls({"*": receiver.url_for("/hooks")})
    receiver.clear_log()
    return module_mock


def wait_for(browser: WebDriver, condition: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Polls the condition until it holds (returns what it returned)."""
    return WebDriverWait(browser, timeout, poll_frequency=0.05).until(lambda _: condition())


def text_of(browser: WebDriver, css: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, css).text)


def shows(browser: WebDriver, css: str, needle: str) -> bool:
    return any(needle in e.text for e in browser.find_elements(By.CSS_SELECTOR, css))


def create(mock: MockServer, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(mock.url("/v1/tenants/demo/greenpin"), json=body, auth=mock.auth)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def open_page(browser: WebDriver, mock: MockServer, tab: str = "allocations") -> None:
    browser.get("about:blank")  # a new page: the same URL again would only move to its anchor
    browser.get(mock.url(f"/_mock/ui#{tab}"))
    wait_for(browser, lambda: browser.find_element(By.TAG_NAME, "body")
             .get_attribute("data-first-data") or tab != "allocations")


def unlabelled_controls(browser: WebDriver) -> list[str]:
    """The visible controls a screen reader could not name."""
    found: list[str] = browser.execute_script("""
        return [...document.querySelectorAll('input, select, button, textarea')]
            .filter((c) => c.offsetParent !== null)
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                           && !c.textContent.trim())
            .map((c) => c.outerHTML);
    """)
    return found


def tab(browser: WebDriver, name: str) -> None:
    browser.find_element(By.ID, f"tab-{name}").click()


def test_an_allocation_created_over_the_api_appears_within_2_s(browser, mock, artefacts):
    open_page(browser, mock)
    assert "curl -u" in text_of(browser, "#allocations-empty")  # what a newcomer does first
    browser.save_screenshot(str(artefacts / "allocations-empty.png"))
    created = create(mock, allocation("order-77", a={"numbers": ["9876500001"], "vns": [VN],
                                                     "pin": "4321"}))
    wait_for(browser, lambda: shows(browser, "#allocations-table tbody tr", "order-77"), 2.0)
    row = text_of(browser, f"tr[data-id='{created['greenpin_id']}']")
    assert "active" in row
    assert "PIN 4321" in row
    assert "+919876500001" in row
    assert re.search(r"in 179 d \d\d:\d\d:\d\d", row)  # the countdown, on the mock's clock
    browser.save_screenshot(str(artefacts / "allocations.png"))

    search = browser.find_element(By.ID, "search")
    search.send_keys("no-such-order")
    wait_for(browser, lambda: "Nothing matches" in text_of(browser, "#allocations-caption"))
    search.clear()
    search.send_keys("4321")  # its PIN
    wait_for(browser, lambda: shows(browser, "#allocations-table tbody tr", "order-77"))


def test_advancing_the_clock_deallocates_and_shows_the_callback(browser, mock, artefacts):
    created = create(mock, allocation(deallocation_policy={"duration": "30m"}))
    open_page(browser, mock)
    row = f"tr[data-id='{created['greenpin_id']}']"
    wait_for(browser, lambda: "active" in text_of(browser, row))
    browser.find_element(By.CSS_SELECTOR, "button[data-advance='3600']").click()
    wait_for(browser, lambda: "1 allocation deallocated" in text_of(browser, "#status"))
    assert created["greenpin_id"] in text_of(browser, "#status")
    wait_for(browser, lambda: "vault" in text_of(browser, row))
    assert "ahead of real time" in text_of(browser, "#clock-offset")

    tab(browser, "callbacks")
    entry = "#callbacks-list li"
    wait_for(browser, lambda: shows(browser, entry, "deallocation") and
             shows(browser, entry, "delivered"))
    browser.find_element(By.CSS_SELECTOR, f"{entry} summary").click()
    details = text_of(browser, entry)
    assert "HTTP 200" in details
    assert "Valid against deallocation.schema.json" in details
    assert created["transaction_id"] in details  # the payload, pretty-printed
    assert unlabelled_controls(browser) == []
    browser.save_screenshot(str(artefacts / "callbacks.png"))


def test_redeliver_from_the_page_shows_the_new_attempt(browser, mock, receiver):
    create(mock, allocation(deallocation_policy={"duration": "10s"}))
    mock.advance_clock(60)
    open_page(browser, mock, "callbacks")
    first = "#callbacks-list li:first-child"
    wait_for(browser, lambda: "delivered" in text_of(browser, first))
    original = browser.find_element(By.CSS_SELECTOR, first).get_attribute("data-id")
    browser.find_element(By.CSS_SELECTOR, f"{first} summary").click()
    target = browser.find_element(By.CSS_SELECTOR, f"{first} input[name=url]")
    target.send_keys(receiver.url_for("/elsewhere"))
    browser.find_element(By.CSS_SELECTOR, f"{first} .redeliver button").click()

    def redelivered() -> WebElement | None:
        newest = browser.find_element(By.CSS_SELECTOR, first)
        moved = newest.get_attribute("data-id") != original and "delivered" in newest.text
        return newest if moved else None

    newest = wait_for(browser, redelivered)
    newest.find_element(By.TAG_NAME, "summary").click()
    assert f"redelivery of {original}" in newest.text
    assert "HTTP 200" in newest.text
    assert any(r.path == "/elsewhere" for r, _ in receiver.log)


def test_an_incoming_call_from_the_form_shows_the_call_and_its_callbacks(
    browser, mock, artefacts
):
    create(mock, allocation(a={"numbers": ["9876500001"], "vns": [VN], "pin": "1234"}))
    open_page(browser, mock)
    browser.get_log("browser")  # from here on, the page must log no error
    # Keyboard: the arrow keys move between the views.
    browser.find_element(By.ID, "tab-allocations").send_keys(Keys.ARROW_LEFT)
    assert browser.switch_to.active_element.get_attribute("id") == "tab-tools"
    form = browser.find_element(By.ID, "incoming-form")
    wait_for(browser, lambda: VN in form.find_element(By.NAME, "vn").text)
    form.find_element(By.CSS_SELECTOR, f"option[value='{VN}']").click()
    form.find_element(By.NAME, "from").send_keys(STRANGER)
    form.find_element(By.NAME, "digits").send_keys("1234")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda: "connected" in form.find_element(By.NAME, "result").text)
    assert unlabelled_controls(browser) == []
    browser.save_screenshot(str(artefacts / "drive.png"))

    mock.advance_clock(60)  # the call plays out and ends
    tab(browser, "calls")
    card = "#calls-list li"
    wait_for(browser, lambda: shows(browser, card, "call_completed"), 3.0)
    text = text_of(browser, card)
    assert "Incoming call" in text
    assert STRANGER in text
    assert "verification_succeeded" in text
    assert "completed" in text
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{card} .leg")) == 2
    browser.save_screenshot(str(artefacts / "calls.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_a_narrow_window_needs_no_sideways_scrolling(browser, mock, artefacts):
    create(mock, allocation())
    browser.set_window_size(400, 800)
    try:
        open_page(browser, mock)
        wait_for(browser, lambda: shows(browser, "#allocations-table tbody tr", "order-1"))
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        window_width = browser.execute_script("return window.innerWidth")
        assert page_width <= window_width
        # Every column of a row is in view, not behind a scroll bar of the table.
        right_edges = browser.execute_script(
            "return [...document.querySelectorAll('#allocations-table tbody td')]"
            ".map((cell) => cell.getBoundingClientRect().right)")
        assert len(right_edges) == 5
        assert max(right_edges) <= window_width
        browser.save_screenshot(str(artefacts / "narrow.png"))
    finally:
        browser.set_window_size(1280, 800)


def test_a_call_in_progress_shows_no_outcome_and_its_answered_legs_talking(
    browser, mock, artefacts
):
    create(mock, allocation(a={"numbers": ["7987686145"], "vns": [VN]}))
    placed = httpx.post(mock.url("/_mock/calls/incoming"), json={
        "vn": VN, "from": "+917987686145", "talk_seconds": 600})
    assert placed.status_code == 200, placed.text
    mock.advance_clock(8)  # both legs answered, the talk far from over
    open_page(browser, mock, "calls")
    card = "#calls-list li"
    wait_for(browser, lambda: shows(browser, card, "talking"))
    assert "status in progress · outcome —" in text_of(browser, card)
    legs = [e.text for e in browser.find_elements(By.CSS_SELECTOR, f"{card} .leg")]
    assert len(legs) == 2
    assert all("talking" in leg and "ringing" not in leg for leg in legs), legs
    browser.save_screenshot(str(artefacts / "call-in-progress.png"))


def test_a_narrow_delivery_fits_keeps_the_field_in_focus_and_masks_a_password(
    browser, mock, receiver, artefacts
):
    hook = receiver.url_for("/hooks").replace("http://", "http://user:hunter2@")
    mock.set_callback_urls({"*": hook})
    create(mock, allocation(deallocation_policy={"duration": "10s"}))
    mock.advance_clock(60)
    browser.set_window_size(400, 800)
    try:
        open_page(browser, mock, "callbacks")
        browser.get_log("browser")  # from here on, the page must log no error
        first = "#callbacks-list li:first-child"
        wait_for(browser, lambda: "delivered" in text_of(browser, first))
        events = browser.find_elements(By.CSS_SELECTOR, "#fake-form [name=event] option")
        offered = {e.get_attribute("value") for e in events}
        assert "deallocation" in offered
        assert not offered & {"connect_applet_request", "connect_applet_response"}
        browser.find_element(By.CSS_SELECTOR, f"{first} summary").click()
        wait_for(browser, lambda: "HTTP 200" in text_of(browser, first))
        assert "user:•••@127.0.0.1" in text_of(browser, first)
        assert "hunter2" not in browser.find_element(By.ID, "callbacks").text
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= browser.execute_script("return window.innerWidth")
        browser.save_screenshot(str(artefacts / "narrow-delivery.png"))

        # The page re-renders under a field being typed in: the focus and the caret stay.
        field = browser.find_element(By.CSS_SELECTOR, f"{first} input[name=url]")
        field.send_keys("http://ab", Keys.ARROW_LEFT)
        sent = httpx.post(mock.url("/_mock/callbacks/fake"), json={
            "event": "deallocation", "url": receiver.url_for("/fake")})
        assert sent.status_code == 202, sent.text
        wait_for(browser, lambda: len(browser.find_elements(
            By.CSS_SELECTOR, "#callbacks-list > li")) == 2)
        assert browser.switch_to.active_element == field
        field.send_keys("Z")
        assert field.get_attribute("value") == "http://aZb"
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        browser.set_window_size(1280, 800)


def test_with_a_control_token_the_page_asks_for_it_once(browser, artefacts):
    with MockServer(control_token=TOKEN) as guarded:
        create(guarded, allocation("order-guarded"))
        browser.get(guarded.url("/_mock/ui"))
        dialog = browser.find_element(By.ID, "token-dialog")
        wait_for(browser, dialog.is_displayed)
        browser.save_screenshot(str(artefacts / "token.png"))
        field = browser.find_element(By.ID, "token-input")
        field.send_keys("not-the-token", Keys.ENTER)
        wait_for(browser, lambda: "refused" in text_of(browser, "#token-error"))
        field.clear()
        field.send_keys(TOKEN, Keys.ENTER)
        wait_for(browser, lambda: shows(browser, "#allocations-table tbody tr", "order-guarded"))
        assert not dialog.is_displayed()
        browser.refresh()  # kept for the tab: not asked again
        wait_for(browser, lambda: shows(browser, "#allocations-table tbody tr", "order-guarded"))
        assert not browser.find_element(By.ID, "token-dialog").is_displayed()
