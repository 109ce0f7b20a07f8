"""Templates (Jinja2, autoescaped) rendered in the reader's language."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import escape

from immunet.errors import ApiError
from immunet.web import i18n
from immunet.web.security import LANG_COOKIE, csrf_token, finish

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The per-request gettext is passed in each render's context (see `page`); these
    # globals only exist so templates compile.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


def _newstyle(catalogue: Any) -> tuple[Any, Any]:
    """Jinja's "new style" gettext over a catalogue: ``_("Hello %(name)s", name=x)``
    formats after translating and escapes the values. Unlike Jinja's own, the message is
    escaped too: a message is text, never markup, and ``_(value)`` of a word the services
    answer falls back to the value itself when the catalogue lacks it."""

    @pass_context
    def gettext(context: Context, message: str, **values: Any) -> Any:
        text = catalogue.gettext(message)
        if context.eval_ctx.autoescape:
            text = escape(text)
        return text % values if values else text

    @pass_context
    def ngettext(context: Context, singular: str, plural: str, n: int, **values: Any) -> Any:
        values.setdefault("num", n)
        text = catalogue.ngettext(singular, plural, n)
        if context.eval_ctx.autoescape:
            text = escape(text)
        return text % values

    return gettext, ngettext


def locale_of(request: Request) -> str:
    cached: str | None = getattr(request.state, "locale", None)
    if cached is None:
        cached = i18n.negotiate(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        request.state.locale = cached
    return cached


def gettext_for(request: Request) -> Any:
    return i18n.translations(locale_of(request)).gettext


def translate_error(request: Request, exc: ApiError) -> str:
    """The API error's message in the reader's language (its English text is the msgid).

    A message written at the raise (not the class's own) may have no translation: then the
    class's message, which every catalogue holds (tests/web/test_i18n.py), is shown."""
    gettext = gettext_for(request)
    text = str(gettext(exc.message))
    if text == exc.message and locale_of(request) != i18n.DEFAULT_LOCALE:
        return str(gettext(type(exc).message))
    return text


def page(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    locale = locale_of(request)
    gettext, ngettext = _newstyle(i18n.translations(locale))
    here = request.url.path
    context = {
        "gettext": gettext,
        "ngettext": ngettext,
        "locale": locale,
        "locales": i18n.LOCALES,
        "fmt": i18n.Formatter(locale),
        "csrf": csrf_token(request),
        "here": here,
        "error": None,
        "notice": None,
        **values,
    }
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    finish(request, response)
    return response
