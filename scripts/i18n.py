"""`make i18n`: gather the portal's messages into messages.pot and merge them into each
language's .po (new messages appear untranslated; translators fill them in).

The portal reads the .po files themselves (compiled in memory), so nothing else is built.
"""

from __future__ import annotations

from babel.messages.pofile import read_po, write_po

from immunet.web.catalogue import template_catalogue
from immunet.web.i18n import DEFAULT_LOCALE, LOCALE_DIR, LOCALES, po_path


def main() -> None:
    template = template_catalogue()
    with (LOCALE_DIR / "messages.pot").open("wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=True, include_lineno=False)
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = po_path(locale)
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, sort_output=True, include_lineno=False, ignore_obsolete=True)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{locale}: {len(catalog) - 1} messages, {len(missing)} untranslated")


if __name__ == "__main__":
    main()
