"""The demo partner: registered once by the demo, and its client (the partner's side of
``make demo``) completes the real flow against immunet's consent page."""

from __future__ import annotations

import datetime as dt
import json
import stat
from urllib.parse import parse_qs, urlsplit

from immunet.partners.demo import DEMO_REDIRECT, demo_client_file, demo_partner
from immunet.partners.demo_client import DemoPartner
from immunet.people.identifiers import normalize_mobile
from tests.factories.partners import ISSUER
from tests.integration.test_partner_oauth import MOBILE, _citizen_with_beneficiary
from tests.web.portal import open_browser


async def test_demo_partner_flow(client, ctx, clock, outbox, settings, keyring):
    keyring.save(settings.keyring)
    clock.set(dt.datetime.now(dt.UTC))  # the demo client signs with the real time
    lines = await demo_partner(settings)
    assert "Demo Health App" in lines[0]
    path = demo_client_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    await demo_partner(settings)  # a second demo run registers nothing new
    assert json.loads(path.read_text()) == document

    reference = await _citizen_with_beneficiary(client, outbox)
    partner = DemoPartner.load(ISSUER, document)
    url = await partner.authorization_url(client)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    async for browser in open_browser(settings, ctx):
        start = await browser.get("/oauth/authorize", **params)
        assert "Demo Health App" in start.labels()
        sent = await browser.submit(start, "/oauth/authorize/otp", **params, mobile=MOBILE)
        chooser = await browser.submit(
            sent,
            "/oauth/authorize/verify",
            **params,
            txn=sent.hidden("txn"),
            otp=outbox.last_otp(normalize_mobile(MOBILE)),
        )
        done = await browser.submit(
            chooser, "/oauth/authorize/decide", **params, beneficiary=reference, decision="allow"
        )
        location = done.response.headers["location"]
        assert location.startswith(DEMO_REDIRECT + "?")
        bundle = await partner.finish(client, urlsplit(location).query)
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
