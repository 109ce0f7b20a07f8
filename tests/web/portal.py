"""A browser-like client for the portal's pages: cookies, CSRF fields, form posts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from immunet.app import create_app
from immunet.context import AppContext
from immunet.people.identifiers import normalize_mobile
from immunet.settings import Settings
from tests.conftest import DrainingTransport, Outbox

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Page:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.text = response.text

    def csrf(self) -> str:
        found = CSRF.search(self.text)
        assert found, "the page has no form with a CSRF token"
        return found.group(1)

    def labels(self) -> set[str]:
        """Accessible names of labelled controls and of buttons and links (text only)."""
        parser = _Names()
        parser.feed(self.text)
        return parser.names

    def hidden(self, name: str) -> str:
        found = re.search(rf'name="{name}" value="([^"]*)"', self.text)
        assert found, f"no hidden field {name}"
        return found.group(1)


class _Names(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("label", "button", "a", "h1", "h2", "legend"):
            self._open = tag
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self.names.add(" ".join("".join(self._text).split()))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)


class Browser:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str, **params: Any) -> Page:
        return Page(await self.http.get(path, params=params or None))

    async def submit(self, form_page: Page, action: str, **fields: str) -> Page:
        data = {"csrf": form_page.csrf(), **fields}
        return Page(await self.http.post(action, data=data))

    async def login(self, outbox: Outbox, mobile: str) -> Page:
        start = await self.get("/login")
        sent = await self.submit(start, "/login", mobile=mobile)
        assert sent.status == 200, sent.text
        otp = outbox.last_otp(normalize_mobile(mobile))
        done = await self.submit(sent, "/login/verify", txn=sent.hidden("txn"), otp=otp)
        assert done.status == 303, done.text
        assert done.response.headers["location"] == "/me"
        return await self.get("/me")


async def open_browser(
    settings: Settings, ctx: AppContext, *, peer: str = "203.0.113.9"
) -> AsyncIterator[Browser]:
    app = create_app(settings, context=ctx)
    transport = DrainingTransport(app, ctx, (peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Browser(http)


@pytest.fixture
async def browser(settings: Settings, ctx: AppContext) -> AsyncIterator[Browser]:
    async for opened in open_browser(settings, ctx):
        yield opened
