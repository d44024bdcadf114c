"""CronJob schedules: the standard five-field cron syntax the CronJob controller accepts
(robfig/cron's standard parser): numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`,
lists, month and weekday names, `?` as `*`, and the descriptors `@yearly`/`@annually`,
`@monthly`, `@weekly`, `@daily`/`@midnight`, `@hourly`. As in cron, when both the
day-of-month and the day-of-week are restricted, a day matching either one fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
#: (name, low, high, names) of each field
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),  # 7 is Sunday too
)
#: how far ahead a schedule is searched (a Feb 29th on a Monday recurs within 28 years)
_HORIZON = timedelta(days=366 * 29)


class CronError(ValueError):
    """A schedule the controller cannot parse (the apiserver answers 422 with it)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0
        in_week = weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` (to the minute) the schedule fires."""
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = moment + _HORIZON
        while t <= end:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError("the schedule never fires")


def _value(text: str, names: dict[str, int], field: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: in {field}")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int], field: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"invalid step {step_text!r} in {field}")
            step = int(step_text)
        if body in ("*", "?"):
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _value(first, names, field), _value(last, names, field)
        else:
            start = _value(body, names, field)
            stop = high if step_text else start
        if start < low or stop > high or start > stop:
            raise CronError(f"{field} out of range ({low}-{high}): {part}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def parse(expression: str) -> Schedule:
    text = _DESCRIPTORS.get(expression.strip(), expression.strip())
    if text.startswith("@"):
        raise CronError(f"unrecognized descriptor: {expression}")
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: {expression}")
    sets = [
        _field(part, low, high, names, name)
        for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = {0 if day == 7 else day for day in sets[4]}
    return Schedule(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=frozenset(weekdays),
        any_day=parts[2] in ("*", "?"),
        any_weekday=parts[4] in ("*", "?"),
    )
