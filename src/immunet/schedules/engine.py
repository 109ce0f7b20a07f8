"""Evaluation and forecasting following the CDC CDSi Logic Specification.

Pure functions over :mod:`immunet.schedules.supporting` rules: given a patient (birth date,
gender), an immunization history and an assessment date, evaluate every dose against each
relevant antigen series, select the best series per antigen and forecast the next target dose,
then combine the antigens of a vaccine group. No clock is read: the assessment date is input.

Deliberate simplifications (see KNOWN_ISSUES.md): no observations / medical history, so risk
series (except our own, by indication), observation intervals and "Completed Series" skip
conditions are not used; series selection is an ordered comparison, not CDSi's point scores;
a live-virus conflict with a dose of another antigen treats that dose as valid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from immunet.schedules.dates import Duration, add
from immunet.schedules.supporting import (
    AgeRule,
    Condition,
    ConditionalSkip,
    IntervalRule,
    Series,
    SeriesDose,
    SupportingData,
    VaccineRule,
)

VALID = "Valid"
NOT_VALID = "Not Valid"
EXTRANEOUS = "Extraneous"

TOO_YOUNG = "Age: Too Young"
TOO_OLD = "Age: Too Old"
INTERVAL = "Interval: too short"
INADVERTENT = "Inadvertent Vaccine"
LIVE_VIRUS = "Live Virus Conflict"
NOT_PREFERABLE = "Not a preferable or allowable vaccine"
COMPLETE_ALREADY = "Series Already Complete"

NOT_COMPLETE = "Not complete"
COMPLETE = "Complete"
AGED_OUT = "Aged out"
IMMUNE = "Immune"

_ONE_DAY = dt.timedelta(days=1)
_GRACE = dt.timedelta(days=4)  # CDSi's 4-day grace, also for a series' minimum start age


@dataclass(frozen=True, slots=True)
class Dose:
    """One administered dose of the patient's history."""

    index: int  # position in the patient's history, as given
    date: dt.date
    cvx: str
    mvx: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    dob: dt.date
    gender: str  # "F" | "M" | other
    indications: frozenset[str] = frozenset()  # e.g. {"pregnancy"} for our own risk series


@dataclass(slots=True)
class DoseEvaluation:
    dose: Dose
    status: str
    reason: str | None
    target: int | None  # the target dose number the dose satisfied, when valid


@dataclass(frozen=True, slots=True)
class Forecast:
    dose_number: int
    earliest: dt.date
    recommended: dt.date
    past_due: dt.date | None
    latest: dt.date | None
    target: int = 0  # the series' target dose number forecast (after skips)


@dataclass(slots=True)
class SeriesResult:
    series: Series
    evaluations: list[DoseEvaluation]
    status: str
    forecast: Forecast | None
    satisfied: dict[int, Dose] = field(default_factory=dict)

    @property
    def valid_count(self) -> int:
        return sum(1 for e in self.evaluations if e.status == VALID)


@dataclass(slots=True)
class GroupResult:
    vaccine_group: str
    status: str
    forecast: Forecast | None
    doses: dict[int, tuple[str, str | None]]  # history index -> (status, reason)
    antigens: dict[str, SeriesResult]


def _normal_cvx(cvx: str) -> str:
    return cvx.strip().lstrip("0") or "0"


def _in_age(dob: dt.date, day: dt.date, begin: Duration | None, end: Duration | None) -> bool:
    if begin is not None and day < add(dob, begin):
        return False
    return not (end is not None and day >= add(dob, end))


def _in_window(day: dt.date, start: dt.date | None, stop: dt.date | None) -> bool:
    return (start is None or day >= start) and (stop is None or day <= stop)


def _age_rule(dose: SeriesDose, day: dt.date) -> AgeRule | None:
    for rule in dose.ages:
        if _in_window(day, rule.effective, rule.cessation):
            return rule
    return dose.ages[0] if dose.ages else None


def _intervals(rules: tuple[IntervalRule, ...], day: dt.date) -> list[IntervalRule]:
    return [r for r in rules if _in_window(day, r.effective, r.cessation)]


class _SeriesRun:
    """The evaluation of one patient series (CDSi chapter 6) and its forecast (chapter 7)."""

    def __init__(
        self,
        data: SupportingData,
        series: Series,
        patient: Patient,
        doses: list[Dose],
        history: list[Dose],
        assessment: dt.date,
    ) -> None:
        self.data = data
        self.series = series
        self.patient = patient
        self.doses = doses  # this antigen's doses, date order
        self.history = history  # every dose, for live-virus conflicts
        self.assessment = assessment
        self.evaluations: list[DoseEvaluation] = []
        self.satisfied: dict[int, Dose] = {}
        self._skip_age_date = assessment

    # --- conditional skip (CDSi 6.2 / 7.x) ---------------------------------------------
    def _counted(self, cond: Condition, before: dt.date | None) -> int:
        count = 0
        dob = self.patient.dob
        if cond.dose_type == "valid":
            pool = [e.dose for e in self.evaluations if e.status == VALID]
        else:
            pool = [e.dose for e in self.evaluations]
        for dose in pool:
            if before is not None and dose.date >= before:
                continue
            if cond.vaccine_types and dose.cvx not in cond.vaccine_types:
                continue
            if "age" in cond.kind and not _in_age(dob, dose.date, cond.begin_age, cond.end_age):
                continue
            if "date" in cond.kind:
                if cond.start_date is not None and dose.date < cond.start_date:
                    continue
                if cond.end_date is not None and dose.date >= cond.end_date:
                    continue
            count += 1
        return count

    def _condition_met(self, cond: Condition, ref: dt.date, forecast: bool) -> bool:
        dob = self.patient.dob
        if cond.kind == "age":
            if forecast and cond.end_age is None:
                # "Not required for those N or older": old enough by the earliest date counts.
                return _in_age(dob, self._skip_age_date, cond.begin_age, None)
            return _in_age(dob, ref, cond.begin_age, cond.end_age)
        if cond.kind == "interval":
            previous = [e.dose for e in self.evaluations if e.dose.date <= ref]
            if not forecast:
                previous = [d for d in previous if d.date < ref] or previous[:-1]
            if not previous or cond.interval is None:
                return False
            return ref >= add(previous[-1].date, cond.interval)
        if cond.kind.startswith("vaccine count"):
            count = self._counted(cond, None if forecast else ref)
            target = cond.dose_count or 0
            if cond.count_logic == "greater than":
                return count > target
            if cond.count_logic == "less than":
                return count < target
            return count == target
        if cond.kind == "completed series":
            return False
        return False

    def _skip(self, dose: SeriesDose, ref: dt.date, forecast: bool) -> bool:
        context = "forecast" if forecast else "evaluation"
        for skip in dose.skips:
            if skip.context not in (context, "both"):
                continue
            if self._skip_met(skip, ref, forecast):
                return True
        return False

    def _skip_met(self, skip: ConditionalSkip, ref: dt.date, forecast: bool) -> bool:
        results = []
        for s in skip.sets:
            if not _in_window(ref, s.effective, s.cessation):
                results.append(False)
                continue
            met = [self._condition_met(c, ref, forecast) for c in s.conditions]
            results.append(any(met) if s.logic == "or" else all(met) and bool(met))
        return all(results) if skip.logic == "and" else any(results)

    # --- evaluation -------------------------------------------------------------------
    def _reference(self, rule: IntervalRule, before: dt.date, forecast: bool) -> dt.date | None:
        if rule.from_previous:
            # Intervals run from the previous dose that counts: not an extraneous dose, not
            # an inadvertent one (CDC case 2013-0060).
            prior = [
                e for e in self.evaluations if e.status != EXTRANEOUS and e.reason != INADVERTENT
            ]
            if not forecast:
                prior = [e for e in prior if e.dose.date <= before]
            return prior[-1].dose.date if prior else None
        if rule.from_target_dose is not None:
            dose = self.satisfied.get(rule.from_target_dose)
            return dose.date if dose else None
        if rule.from_most_recent:
            hits = [
                d
                for d in self.history
                if d.cvx in rule.from_most_recent and (forecast or d.date < before)
            ]
            return hits[-1].date if hits else None
        return None

    def _valid_count(self) -> int:
        return sum(1 for e in self.evaluations if e.status == VALID)

    def _interval_ok(self, rules: list[IntervalRule], dose: Dose) -> bool:
        # Validity is judged against the absolute minimum (minimum less the 4-day grace);
        # the CDC cases accept a dose in the grace period even after an invalid dose.
        for rule in rules:
            ref = self._reference(rule, dose.date, forecast=False)
            if ref is None:
                continue
            if rule.abs_min is not None and dose.date < add(ref, rule.abs_min):
                return False
        return True

    def _vaccine_ok(self, rules: tuple[VaccineRule, ...], dose: Dose) -> bool:
        dob = self.patient.dob
        for rule in rules:
            if rule.cvx != dose.cvx:
                continue
            if rule.mvx and dose.mvx and rule.mvx != dose.mvx:
                continue
            if _in_age(dob, dose.date, rule.begin_age, rule.end_age):
                return True
        return False

    def _live_conflict(self, dose: Dose) -> bool:
        conflicts = self.data.conflicts_by_current.get(dose.cvx, ())
        if not conflicts:
            return False
        own = {e.dose.index: e for e in self.evaluations}
        for prev in self.history:
            if prev.date >= dose.date:
                break
            for conflict in conflicts:
                if conflict.previous != prev.cvx:
                    continue
                begin = add(prev.date, conflict.begin)
                evaluated = own.get(prev.index)
                invalid = evaluated is not None and evaluated.status == NOT_VALID
                end = add(prev.date, conflict.end if invalid else conflict.min_end)
                if begin <= dose.date < end:
                    return True
        return False

    def _evaluate_dose(self, dose: Dose, target: SeriesDose) -> tuple[str, str | None]:
        dob = self.patient.dob
        if dose.cvx in target.inadvertent:
            return NOT_VALID, INADVERTENT
        age = _age_rule(target, dose.date)
        if age is not None and age.max is not None and dose.date >= add(dob, age.max):
            return EXTRANEOUS, TOO_OLD
        # CDSi runs every check. When several fail, CDC's cases name the interval more often
        # than the age (the reason is reported, not judged), then live-virus conflict, type.
        failed: list[str] = []
        if age is not None and age.abs_min is not None and dose.date < add(dob, age.abs_min):
            failed.append(TOO_YOUNG)
        preferable = _intervals(target.intervals, dose.date)
        if not self._interval_ok(preferable, dose):
            allowable = _intervals(target.allowable_intervals, dose.date)
            if not allowable or not self._interval_ok(allowable, dose):
                failed.append(INTERVAL)
        if self._live_conflict(dose):
            failed.append(LIVE_VIRUS)
        if not (
            self._vaccine_ok(target.preferable, dose) or self._vaccine_ok(target.allowable, dose)
        ):
            failed.append(NOT_PREFERABLE)
        for reason in (INTERVAL, TOO_YOUNG, LIVE_VIRUS, NOT_PREFERABLE):
            if reason in failed:
                return NOT_VALID, reason
        return VALID, None

    def run(self) -> SeriesResult:
        targets = self.series.doses
        position = 0
        for dose in self.doses:
            while position < len(targets) and self._skip(targets[position], dose.date, False):
                position += 1
            if position >= len(targets):
                self.evaluations.append(DoseEvaluation(dose, EXTRANEOUS, COMPLETE_ALREADY, None))
                continue
            target = targets[position]
            status, reason = self._evaluate_dose(dose, target)
            number = target.number if status == VALID else None
            self.evaluations.append(DoseEvaluation(dose, status, reason, number))
            if status == VALID:
                self.satisfied[target.number] = dose
                if not target.recurring:
                    position += 1
        return self._forecast(position)

    # --- forecast ---------------------------------------------------------------------
    def _forecast(self, position: int) -> SeriesResult:
        targets = self.series.doses
        today = self.assessment
        while position < len(targets):
            # CDSi judges a forecast skip at the dose's earliest date when that is later
            # than today ("not required for those 12 months or older at the earliest date").
            self._skip_age_date = max(today, self._dates(targets[position]).earliest)
            if not self._skip(targets[position], today, True):
                break
            position += 1
        if position >= len(targets):
            return SeriesResult(self.series, self.evaluations, COMPLETE, None, self.satisfied)
        target = targets[position]
        forecast = self._dates(target)
        if forecast.latest is not None and today > forecast.latest:
            return SeriesResult(self.series, self.evaluations, AGED_OUT, None, self.satisfied)
        return SeriesResult(self.series, self.evaluations, NOT_COMPLETE, forecast, self.satisfied)

    def _dates(self, target: SeriesDose) -> Forecast:
        """Earliest, recommended, past-due and latest dates of ``target`` (CDSi 7.x)."""
        today = self.assessment
        dob = self.patient.dob
        age = _age_rule(target, today)
        latest = None
        if age is not None and age.max is not None:
            latest = add(dob, age.max) - _ONE_DAY
        earliest_parts: list[dt.date] = []
        rec_ints: list[dt.date] = []
        due_ints: list[dt.date] = []
        for rule in _intervals(target.intervals, today):
            ref = self._reference(rule, today, forecast=True)
            if ref is None:
                continue
            if rule.min is not None:
                earliest_parts.append(add(ref, rule.min))
            if rule.earliest_rec is not None:
                rec_ints.append(add(ref, rule.earliest_rec))
            if rule.latest_rec is not None:
                due_ints.append(add(ref, rule.latest_rec) - _ONE_DAY)
        rec_parts: list[dt.date] = []
        due_parts: list[dt.date] = []
        # CDSi: the recommended and past-due dates come from the age when the target dose
        # has a recommended age, and from the intervals only when it has none.
        if age is not None and age.min is not None:
            earliest_parts.append(add(dob, age.min))
        if age is not None and age.earliest_rec is not None:
            rec_parts.append(add(dob, age.earliest_rec))
        else:
            rec_parts = rec_ints
        if age is not None and age.latest_rec is not None:
            due_parts.append(add(dob, age.latest_rec) - _ONE_DAY)
        else:
            due_parts = due_ints
        earliest_parts.extend(self._conflict_ends(target))
        if target.season_start is not None:
            earliest_parts.append(target.season_start)
        # Never before the last dose given (an inadvertent dose still occupies its day).
        earliest_parts.extend(e.dose.date for e in self.evaluations[-1:])
        earliest = max(earliest_parts) if earliest_parts else dob
        recommended = max(rec_parts) if rec_parts else earliest
        recommended = max(recommended, earliest)
        past_due = max(due_parts) if due_parts else None
        if past_due is not None and past_due < recommended:
            past_due = recommended
        number = self._valid_count() + 1
        if target.season_start is not None and today >= target.season_start:
            # A seasonal dose (influenza, COVID-19 2025-26) counts from the season's start.
            this_season = [
                e
                for e in self.evaluations
                if e.status == VALID and e.dose.date >= target.season_start
            ]
            number = len(this_season) + 1
        return Forecast(number, earliest, recommended, past_due, latest, target.number)

    def _conflict_ends(self, target: SeriesDose) -> list[dt.date]:
        ends: list[dt.date] = []
        own = {e.dose.index: e for e in self.evaluations}
        forecast_cvx = {v.cvx for v in target.preferable if v.forecast} or {
            v.cvx for v in target.preferable
        }
        for cvx in forecast_cvx:
            for conflict in self.data.conflicts_by_current.get(cvx, ()):
                for prev in self.history:
                    if prev.cvx == conflict.previous and prev.date <= self.assessment:
                        evaluated = own.get(prev.index)
                        valid = evaluated is not None and evaluated.status == VALID
                        ends.append(add(prev.date, conflict.min_end if valid else conflict.end))
        return ends


def _gender_ok(required: frozenset[str], gender: str) -> bool:
    if not required:
        return True
    names = {"f": "female", "m": "male"}
    return names.get(gender.lower(), "unknown") in required


def _antigen_doses(
    data: SupportingData, antigen: str, patient: Patient, history: list[Dose]
) -> list[Dose]:
    chosen = []
    for dose in history:
        for assoc in data.cvx_antigens.get(dose.cvx, ()):
            if assoc.antigen == antigen and _in_age(
                patient.dob, dose.date, assoc.begin_age, assoc.end_age
            ):
                chosen.append(dose)
                break
    return chosen


def _select(results: list[SeriesResult], patient: Patient, today: dt.date) -> SeriesResult:
    """Choose the best patient series (CDSi chapter 8, simplified scoring)."""

    def started_in_time(r: SeriesResult) -> bool:
        # Only the maximum age to start disqualifies a started series: CDC's cases complete a
        # 3-dose HPV series begun before its minimum start age (2013-0409).
        first = next((e.dose.date for e in r.evaluations if e.status == VALID), today)
        return _in_age(patient.dob, first, None, r.series.max_age_to_start)

    def off_product(r: SeriesResult) -> bool:
        # A product series with a dose of another product is not the patient's series.
        return r.series.product_path and any(e.reason == NOT_PREFERABLE for e in r.evaluations)

    # A complete series the patient started too late to follow is no completion.
    complete = [r for r in results if r.status == COMPLETE and started_in_time(r)]
    if complete:
        return min(
            complete,
            key=lambda r: (
                off_product(r),
                -r.valid_count,
                r.series.preference,
            ),
        )
    started = [r for r in results if r.valid_count > 0]
    if started:

        def score(r: SeriesResult) -> tuple[bool, bool, int, int, dt.date, int]:
            # Target doses still to give, after the forecast's skips.
            next_target = r.forecast.target if r.forecast else len(r.series.doses) + 1
            remaining = len(r.series.doses) - next_target + 1
            finish = r.forecast.earliest if r.forecast else dt.date.max
            first = next(e.dose.date for e in r.evaluations if e.status == VALID)
            return (
                not (
                    _in_age(patient.dob, first + _GRACE, r.series.min_age_to_start, None)
                    and _in_age(patient.dob, first, None, r.series.max_age_to_start)
                ),
                off_product(r),
                -r.valid_count,
                remaining,
                finish,
                r.series.preference,
            )

        return min(started, key=score)
    # No valid dose in any series: the default series, whatever the age (CDC case 2016-0013
    # forecasts the default HPV series for a 26-year-old).
    defaults = [r for r in results if r.series.default]
    return min(defaults or results, key=lambda r: r.series.preference)


def evaluate_antigen(
    data: SupportingData,
    antigen_name: str,
    patient: Patient,
    history: list[Dose],
    assessment: dt.date,
) -> SeriesResult | None:
    antigen = data.antigens.get(antigen_name)
    if antigen is None:
        return None
    doses = _antigen_doses(data, antigen_name, patient, history)
    results = []
    for series in antigen.series:
        # Risk series need an indication (no observations are recorded); an
        # evaluation-only series is never forecast from.
        if series.series_type != "Standard" and not (series.indications & patient.indications):
            continue
        if not _gender_ok(series.required_gender, patient.gender):
            continue
        results.append(_SeriesRun(data, series, patient, doses, history, assessment).run())
    if not results:
        return None
    # One best series per series group; the first group the patient has not aged out of
    # speaks for the antigen (child pneumococcal series, then the adult one).
    groups: dict[str, list[SeriesResult]] = {}
    for result in results:
        groups.setdefault(result.series.group, []).append(result)
    bests = [_select(g, patient, assessment) for _, g in sorted(groups.items())]

    def speaks(b: SeriesResult) -> bool:
        if b.status == AGED_OUT:
            return False
        # A group the patient is too young to start (adult RSV for an infant) is silent.
        return b.valid_count > 0 or _in_age(
            patient.dob, assessment, b.series.min_age_to_start, None
        )

    best = next((b for b in bests if speaks(b)), bests[0])
    if (
        antigen.immunity_birth_date is not None
        and patient.dob < antigen.immunity_birth_date
        and best.status != COMPLETE
    ):
        best = SeriesResult(best.series, best.evaluations, IMMUNE, None, best.satisfied)
    return best


_STATUS_RANK = {NOT_VALID: 0, EXTRANEOUS: 1, VALID: 2}


def evaluate_group(
    data: SupportingData,
    group_name: str,
    patient: Patient,
    history: list[Dose],
    assessment: dt.date,
) -> GroupResult:
    """Evaluate and forecast one vaccine group (CDSi chapter 9)."""
    ordered = sorted(history, key=lambda d: (d.date, d.index))
    group = data.groups[group_name]
    antigens: dict[str, SeriesResult] = {}
    for name in group.antigens:
        result = evaluate_antigen(data, name, patient, ordered, assessment)
        if result is not None:
            antigens[name] = result
    doses: dict[int, tuple[str, str | None]] = {}
    for result in antigens.values():
        for e in result.evaluations:
            current = doses.get(e.dose.index)
            if current is None or _STATUS_RANK[e.status] < _STATUS_RANK[current[0]]:
                doses[e.dose.index] = (e.status, e.reason)
    statuses = [r.status for r in antigens.values()]
    open_results = [r for r in antigens.values() if r.status == NOT_COMPLETE]
    if open_results:
        status = NOT_COMPLETE
    elif statuses and all(s == IMMUNE for s in statuses):
        status = IMMUNE
    elif AGED_OUT in statuses:
        status = AGED_OUT
    elif IMMUNE in statuses and COMPLETE not in statuses:
        status = IMMUNE
    else:
        status = COMPLETE
    forecast = None
    forecasts = [r.forecast for r in open_results if r.forecast is not None]
    # Not before the group's last dose, even one that lacks this antigen (DT after DTaP:
    # CDC case 2024-0058 forecasts pertussis from the DT date).
    given = [e.dose.date for r in antigens.values() for e in r.evaluations]
    if given:
        floor = max(given)
        forecasts = [
            f
            if f.earliest >= floor
            else Forecast(
                f.dose_number,
                floor,
                max(f.recommended, floor),
                None if f.past_due is None else max(f.past_due, floor),
                f.latest,
                f.target,
            )
            for f in forecasts
        ]
    if forecasts:
        # Antigens given separately: the group is due as soon as its first antigen is. Antigens
        # given together (MMR): the antigen furthest behind leads, no earlier than all allow.
        lead = min(forecasts, key=lambda f: (f.earliest, -f.dose_number))
        earliest = lead.earliest
        if group.administer_full_group:
            lead = min(forecasts, key=lambda f: (f.dose_number, f.earliest))
            earliest = max(f.earliest for f in forecasts)
        recommended = max(lead.recommended, earliest)
        past_due = lead.past_due
        if past_due is not None and past_due < recommended:
            past_due = recommended
        latests = [f.latest for f in forecasts if f.latest is not None]
        number = lead.dose_number
        if len(antigens) > 1 and not group.administer_full_group:
            # A combination group counts the doses valid for the group (a Td after DTaP).
            number = sum(1 for status, _ in doses.values() if status == VALID) + 1
        forecast = Forecast(
            dose_number=number,
            earliest=earliest,
            recommended=recommended,
            past_due=past_due,
            latest=min(latests) if latests else None,
            target=lead.target,
        )
    return GroupResult(group_name, status, forecast, doses, antigens)
