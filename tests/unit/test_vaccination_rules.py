"""The pure rules of recording a dose and of reading a check-in code."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.vaccination.rules import (
    AgeOutOfBand,
    BatchExhausted,
    BatchExpired,
    DoseAlreadyRecorded,
    DoseBackdated,
    DoseInFuture,
    DoseOutOfOrder,
    DoseRule,
    DoseTooEarly,
    PriorDose,
    VaccineMismatch,
    age_in_days,
    check_administered_at,
    check_age_band,
    check_batch,
    check_sequence,
    parse_check_in_code,
)

DAY = dt.date(2025, 6, 1)
DOSE1 = DoseRule(1, 0, None, None, False)
DOSE2 = DoseRule(2, 0, None, 84, True)
PRECAUTION = DoseRule(3, 0, None, 273, False)


def prior(number: int, days_ago: int, vaccine: str = "COVISHIELD") -> PriorDose:
    return PriorDose(number, vaccine, DAY - dt.timedelta(days=days_ago), "covid19-covishield")


@given(st.integers(min_value=0, max_value=400))
def test_dose2_interval(days_ago: int) -> None:
    history = [prior(1, days_ago)]
    if days_ago >= 84:
        check_sequence(2, "COVISHIELD", DAY, history, DOSE2)
    else:
        with pytest.raises(DoseTooEarly):
            check_sequence(2, "COVISHIELD", DAY, history, DOSE2)


def test_sequence_rules() -> None:
    check_sequence(1, "COVISHIELD", DAY, [], DOSE1)
    with pytest.raises(DoseAlreadyRecorded):
        check_sequence(1, "COVISHIELD", DAY, [prior(1, 10)], DOSE1)
    with pytest.raises(DoseOutOfOrder):
        check_sequence(2, "COVISHIELD", DAY, [], DOSE2)
    with pytest.raises(DoseOutOfOrder):
        check_sequence(4, "COVISHIELD", DAY, [prior(1, 400), prior(2, 300)], None)
    with pytest.raises(VaccineMismatch):
        check_sequence(2, "COVAXIN", DAY, [prior(1, 100)], DOSE2)
    # The precaution dose may be of another vaccine.
    check_sequence(3, "COVAXIN", DAY, [prior(1, 500), prior(2, 300)], PRECAUTION)


@given(
    st.integers(min_value=1900, max_value=2025),
    st.integers(min_value=0, max_value=30000),
    st.one_of(st.none(), st.integers(min_value=0, max_value=30000)),
)
def test_age_band(birth_year: int, low: int, span: int | None) -> None:
    high = None if span is None else low + span
    age = age_in_days(DAY, birth_year, None)
    rule = DoseRule(1, 0, None, None, False)
    inside = age >= low and (high is None or age <= high)
    if inside:
        check_age_band(age, vaccine_min=low, vaccine_max=high, rule=rule)
    else:
        with pytest.raises(AgeOutOfBand):
            check_age_band(age, vaccine_min=low, vaccine_max=high, rule=rule)


def test_age_with_date_of_birth_is_exact() -> None:
    assert age_in_days(DAY, 2025, dt.date(2025, 5, 1)) == 31


@given(st.integers(min_value=-5, max_value=5), st.integers(min_value=0, max_value=3))
def test_backdating_window(offset_days: int, window: int) -> None:
    now = dt.datetime(2025, 6, 1, 6, 0, tzinfo=dt.UTC)
    on = DAY + dt.timedelta(days=offset_days)
    at = now + dt.timedelta(days=offset_days)
    if offset_days > 0:
        with pytest.raises(DoseInFuture):
            check_administered_at(at, now=now, today=DAY, on=on, backdate_days=window)
    elif -offset_days > window:
        with pytest.raises(DoseBackdated):
            check_administered_at(at, now=now, today=DAY, on=on, backdate_days=window)
    else:
        check_administered_at(at, now=now, today=DAY, on=on, backdate_days=window)


def test_batch_rules() -> None:
    check_batch(expires_on=DAY, quantity=10, used=5, wasted=4, on=DAY)
    with pytest.raises(BatchExpired):
        check_batch(expires_on=DAY - dt.timedelta(days=1), quantity=10, used=0, wasted=0, on=DAY)
    with pytest.raises(BatchExhausted):
        check_batch(expires_on=DAY, quantity=10, used=6, wasted=4, on=DAY)


@given(st.text(max_size=60))
def test_code_parser_accepts_only_four_ascii_digits(text: str) -> None:
    code = parse_check_in_code(text, "a1")
    assert code is None or (len(code) == 4 and code.isascii() and code.isdigit())


def test_code_parser_reads_the_slip_qr_of_this_appointment_only() -> None:
    assert parse_check_in_code(" 0427 ", "a1") == "0427"
    assert parse_check_in_code("٠٤٢٧", "a1") is None  # Arabic-Indic digits
    qr = json.dumps({"appointment_id": "a1", "code": "0427"})
    assert parse_check_in_code(qr, "a1") == "0427"
    assert parse_check_in_code(qr, "a2") is None
    assert parse_check_in_code("{not json", "a1") is None


# -- where a dose may be recorded ------------------------------------------------------------


def _session_rule(**kw: object) -> None:
    from immunet.vaccination.rules import check_session_accepts_doses

    args: dict[str, object] = {
        "status": "published",
        "session_date": DAY,
        "session_vaccine": "COVISHIELD",
        "vaccine": "COVISHIELD",
        "on": DAY,
        "today": DAY,
        "backdate_days": 1,
    }
    args.update(kw)
    check_session_accepts_doses(**args)  # type: ignore[arg-type]


def test_open_session_today_and_inside_the_window_accept() -> None:
    _session_rule()
    _session_rule(session_date=DAY - dt.timedelta(days=1), on=DAY - dt.timedelta(days=1))
    _session_rule(
        session_date=DAY - dt.timedelta(days=7), on=DAY - dt.timedelta(days=7), backdate_days=7
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"status": "cancelled"}, "VACCIN0023"),
        ({"session_date": DAY + dt.timedelta(days=1)}, "VACCIN0024"),
        (
            {"session_date": DAY - dt.timedelta(days=2), "on": DAY - dt.timedelta(days=2)},
            "VACCIN0025",
        ),
        ({"session_date": DAY - dt.timedelta(days=1), "backdate_days": 0}, "VACCIN0025"),
        ({"on": DAY - dt.timedelta(days=1)}, "VACCIN0027"),
        ({"vaccine": "COVAXIN"}, "VACCIN0009"),
        # a cancelled session is refused as cancelled whatever its date
        ({"status": "cancelled", "session_date": DAY + dt.timedelta(days=3)}, "VACCIN0023"),
    ],
)
def test_session_refusals(change: dict[str, object], code: str) -> None:
    from immunet.errors import ApiError

    with pytest.raises(ApiError) as caught:
        _session_rule(**change)
    assert caught.value.error_code == code


@given(
    offset=st.integers(min_value=-40, max_value=40),
    window=st.integers(min_value=0, max_value=30),
    status=st.sampled_from(["published", "cancelled"]),
)
def test_session_accepts_exactly_the_window(offset: int, window: int, status: str) -> None:
    from immunet.errors import ApiError

    day = DAY + dt.timedelta(days=offset)
    accepted = True
    try:
        _session_rule(status=status, session_date=day, on=day, backdate_days=window)
    except ApiError:
        accepted = False
    assert accepted == (status == "published" and -window <= offset <= 0)
