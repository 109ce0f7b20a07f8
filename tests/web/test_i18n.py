"""The catalogues: every message the portal shows, and every API error's message, has its
Hindi text; placeholders survive translation; dates and numbers follow the locale."""

from __future__ import annotations

import datetime as dt
import re

from babel.messages.pofile import read_po

from immunet.web import i18n
from immunet.web.catalogue import api_error_messages, template_catalogue


def _hindi():
    with i18n.po_path("hi").open("rb") as handle:
        return read_po(handle, locale="hi")


def test_every_message_has_a_hindi_translation():
    hindi = _hindi()
    missing = [
        m.id
        for m in template_catalogue()
        if m.id and (hindi.get(m.id) is None or not hindi.get(m.id).string)
    ]
    assert not missing, f"untranslated (run `make i18n`, then translate): {missing[:10]}"


def test_every_api_error_code_has_its_message_in_hindi():
    catalogue = i18n.translations("hi")
    messages = api_error_messages()
    assert len(set(messages.values())) > 60  # the walk found the API's error classes
    for message, code in messages.items():
        translated = catalogue.gettext(message)
        assert translated != message, f"{code}: {message!r} has no Hindi text"
        assert re.search(r"[\u0900-\u097F]", translated), code


def test_placeholders_survive_translation():
    for message in _hindi():
        if message.id and message.string:
            assert set(re.findall(r"%\(\w+\)s", message.id)) == set(
                re.findall(r"%\(\w+\)s", message.string)
            ), message.id


def test_compiled_catalogue_matches_the_po_file():
    # Compiled in memory from the .po the repository holds: nothing can go stale.
    assert i18n.translations("hi").gettext("Mobile number") == "मोबाइल नंबर"
    assert i18n.translations("en").gettext("Mobile number") == "Mobile number"


def test_locale_formatting_uses_indian_grouping_and_hindi_month_names():
    hindi = i18n.Formatter("hi")
    english = i18n.Formatter("en")
    assert hindi.number(12345678) == "1,23,45,678"
    assert english.number(1234567) == "12,34,567"
    day = dt.date(2026, 1, 26)
    assert "जन॰" in hindi.date(day) or "जनवरी" in hindi.date(day)
    assert english.date(day) == "26 Jan 2026"


def test_negotiation_prefers_the_cookie_then_the_browser():
    assert i18n.negotiate("hi", "en-US") == "hi"
    assert i18n.negotiate(None, "fr-FR, hi;q=0.8") == "hi"
    assert i18n.negotiate("xx", "fr") == "en"


def test_messages_and_values_are_escaped_in_templates():
    from jinja2 import Environment

    from immunet.web.render import _newstyle

    gettext, _ngettext = _newstyle(i18n.translations("hi"))
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)
    template = env.from_string('{{ _(word) }}|{{ _("Remove %(name)s", name=who) }}')
    out = template.render(gettext=gettext, word="<script>x</script>", who="<b>&</b>")
    assert out == "&lt;script&gt;x&lt;/script&gt;|&lt;b&gt;&amp;&lt;/b&gt; को हटाएँ"
