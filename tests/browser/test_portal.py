"""The portal in Chromium: the citizen's journey with JavaScript disabled, Hindi pages, a
keyboard-only journey, the verifier, and axe-core on every page (no serious or critical
violation), each page photographed at 360×640 and 1280×800."""

from __future__ import annotations

import datetime as dt
import re
from itertools import count
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PINCODE, Server, axe_check, shoot

_mobiles = count(1)


def _mobile() -> str:
    return f"97{next(_mobiles) + 11000000:08d}"


def _login(page: Any, server: Server, mobile: str) -> None:
    page.goto("/login")
    page.get_by_label("Mobile number").fill(mobile)
    seen = server.sms_count()
    page.get_by_role("button", name="Send OTP").click()
    page.get_by_label("One-time password").fill(server.otp(mobile, after=seen))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/me")


def _add_member(page: Any, name: str, passport: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Year of birth").fill("1984")
    page.get_by_label("Female").check()
    page.get_by_label("Photo ID", exact=True).select_option(label="Passport")
    page.get_by_label("Photo ID number").fill(passport)
    page.get_by_role("button", name="Add member").click()


def test_citizen_journey_without_javascript(no_js: Any, server: Server):
    page = no_js
    _login(page, server, _mobile())
    _add_member(page, "Lakshmi Iyer", "P1234567")
    page.wait_for_url("**/me?done=added")
    expect(page.get_by_role("heading", name="Lakshmi Iyer")).to_be_visible()
    shoot(page, "citizen-family", server)
    page.get_by_role("link", name="Book a vaccination for Lakshmi Iyer").click()
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    page.get_by_label("PIN code").fill(PINCODE)
    page.get_by_label("Date").fill(tomorrow)
    page.get_by_role("button", name="Search").click()
    page.get_by_label("09:00AM-11:00AM").first.check()
    shoot(page, "citizen-book", server)
    page.get_by_role("button", name="Book", exact=True).click()
    page.wait_for_url("**/me?done=booked")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download slip").click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes()[:5] == b"%PDF-"
    shoot(page, "citizen-appointment", server)
    page.get_by_role("button", name="Cancel appointment").click()
    page.wait_for_url("**/me?done=cancelled")
    expect(page.get_by_role("link", name="Download slip")).to_have_count(0)


def test_public_and_citizen_pages_pass_axe(page: Any, server: Server):
    for path, name in [
        ("/", "public-search"),
        (
            f"/?pincode={PINCODE}&date={(dt.date.today() + dt.timedelta(days=1)).isoformat()}",
            "public-results",
        ),
        ("/dashboard", "public-dashboard"),
        ("/login", "login"),
        ("/verify", "verifier"),
        ("/staff/login", "staff-login"),
    ]:
        page.goto(path)
        axe_check(page)
        shoot(page, name, server)
    _login(page, server, _mobile())
    _add_member(page, "Farida Khan", "F7654321")
    page.wait_for_url("**/me?done=added")
    axe_check(page)
    for link in ("Who saw my data", "My data summary"):
        page.goto("/me")
        with page.expect_navigation():
            page.get_by_role("link", name=link).click()
        axe_check(page)


def test_hindi_pages(page: Any, server: Server):
    page.goto("/")
    page.get_by_role("link", name="हिन्दी").click()
    expect(page.locator("html")).to_have_attribute("lang", "hi")
    expect(page.get_by_role("heading", level=1)).to_have_text("टीकाकरण सत्र खोजें")
    axe_check(page)
    shoot(page, "public-search-hindi", server)
    page.goto("/login")  # remembered by this browser
    expect(page.get_by_label("मोबाइल नंबर")).to_be_visible()
    page.get_by_label("मोबाइल नंबर").fill("12345")
    page.get_by_role("button", name="OTP भेजें").click()
    expect(page.get_by_role("alert")).to_contain_text("कृपया सही मोबाइल नंबर दर्ज करें")
    axe_check(page)
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def _tab_to(page: Any, element_id: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the keyboard")


def test_keyboard_only_journey(page: Any, server: Server):
    mobile = _mobile()
    page.goto("/login")
    _tab_to(page, "mobile")
    page.keyboard.type(mobile)
    seen = server.sms_count()
    page.keyboard.press("Enter")
    page.wait_for_selector("#otp")
    _tab_to(page, "otp")
    page.keyboard.type(server.otp(mobile, after=seen))
    page.keyboard.press("Enter")
    page.wait_for_url("**/me")
    _tab_to(page, "name")
    page.keyboard.type("Keyboard Kumar")
    page.keyboard.press("Tab")
    page.keyboard.type("1990")
    page.keyboard.press("Tab")  # the gender radio group
    page.keyboard.press("Space")
    _tab_to(page, "photo_id_type")
    page.keyboard.type("Passport")
    page.keyboard.press("Tab")
    page.keyboard.type("K9876543")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Add member":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/me?done=added")
    expect(page.get_by_role("heading", name="Keyboard Kumar")).to_be_visible()


def test_verifier_page(page: Any, server: Server):
    page.goto("/verify")
    page.get_by_label("Paste QR text").fill("HC1:NOT-A-CERTIFICATE")
    page.get_by_role("button", name="Verify").click()
    # the answer is a new page (the form posts): wait for it rather than race the navigation
    page.get_by_role("heading", name="Not valid").wait_for(timeout=10000)
    assert re.search("damaged|not the text", page.locator(".result").inner_text())
    axe_check(page)
    shoot(page, "verifier-not-valid", server)


def test_first_load_of_a_citizen_page_is_light(chromium: Any, server: Server):
    # A fresh browser (nothing cached), Hindi (so the Devanagari font is fetched too).
    context = chromium.new_context(base_url=server.base, locale="hi-IN")
    page = context.new_page()
    sizes: list[int] = []
    page.on("response", lambda response: sizes.append(len(response.body())))
    page.goto("/login", wait_until="networkidle")
    assert page.locator("html").get_attribute("lang") == "hi"
    context.close()
    assert len(sizes) >= 3  # the page, its stylesheet, the font
    assert sum(sizes) <= 150 * 1024, sizes
