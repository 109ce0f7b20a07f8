"""The public dashboard: national counts by day, state and vaccine, drawn as SVG with the
same numbers in a table; small cells hidden as in the admins' report; no person, no centre."""

from __future__ import annotations

import re

from sqlalchemy import select

from immunet.geography.models import District
from immunet.oversight import reports
from tests.conftest import pinned_instant
from tests.factories.certificates import record_dose
from tests.factories.sessions import add_beneficiary, make_center, make_citizen
from tests.web.portal import Browser


async def _doses(ctx, center: int, n: int, mobile_seed: int) -> None:
    today = pinned_instant().date()
    for i in range(n):
        citizen = await make_citizen(ctx, f"96{mobile_seed + i:08d}")
        ref = await add_beneficiary(ctx, citizen, name=f"Dashboard Person {mobile_seed + i}")
        await record_dose(ctx, ref, dose=1, center_id=center, given_on=today)


async def test_dashboard_shows_national_counts_without_people(browser: Browser, ctx):
    async with ctx.db.reader() as session:
        other = (
            (await session.execute(select(District.district_id).where(District.state_id != 16)))
            .scalars()
            .first()
        )
    karnataka = await make_center(ctx, district_id=294)
    elsewhere = await make_center(ctx, district_id=other, pincode="110001")
    await _doses(ctx, karnataka, 7, 1000)
    await _doses(ctx, elsewhere, 2, 2000)
    page = await browser.get("/dashboard")
    assert page.status == 200
    assert page.response.headers["cache-control"] == "no-store"
    assert page.text.count('<svg class="bars" role="img"') == 3
    assert "Dashboard Person" not in page.text and "Test Centre" not in page.text
    by_state = await reports.public_doses_report(ctx, group_by=reports.PublicGroup.STATE)
    by_vaccine = await reports.public_doses_report(ctx, group_by=reports.PublicGroup.VACCINE)
    assert by_vaccine.cells == {"COVISHIELD": 9} and by_vaccine.total == 9
    # Two doses in one state: "<5", and the other state's count withheld so that it
    # cannot be derived from the total.
    assert sorted(by_state.cells.values(), key=str) == ["<5", "suppressed"]
    table = page.text.split('id="h-state"')[1].split("</table>")[0]
    assert "&lt;5" in table and "suppressed" in table
    assert re.search(r"<td>COVISHIELD</td><td>9</td>", page.text)


async def test_dashboard_in_hindi(browser: Browser):
    await browser.http.get("/lang", params={"to": "hi"})
    page = await browser.get("/dashboard")
    assert "प्रति दिन खुराक" in page.text
