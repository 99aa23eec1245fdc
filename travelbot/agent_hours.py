"""Are people staffing the contact center now, and if not, when are they back?"""

from __future__ import annotations

import datetime as dt
from typing import Optional
from zoneinfo import ZoneInfo

from travelbot.settings import AgentHours

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _local(hours: AgentHours, now: Optional[dt.datetime]) -> dt.datetime:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.astimezone(ZoneInfo(hours.timezone))


def is_open(hours: AgentHours, now: Optional[dt.datetime] = None) -> bool:
    local = _local(hours, now)
    return local.weekday() in hours.days and hours.start <= local.time() < hours.end


def next_opening(hours: AgentHours, now: Optional[dt.datetime] = None) -> dt.datetime:
    """The next moment agents start work (local time of the contact center)."""
    local = _local(hours, now)
    for offset in range(8):
        day = (local + dt.timedelta(days=offset)).date()
        start = dt.datetime.combine(day, hours.start, tzinfo=local.tzinfo)
        if day.weekday() in hours.days and start > local:
            return start
    raise ValueError("agent_hours.days is empty")


def describe_return(hours: AgentHours, now: Optional[dt.datetime] = None) -> str:
    """E.g. 'at 8:00 AM ET tomorrow (Tuesday)'."""
    local = _local(hours, now)
    opening = next_opening(hours, now)
    zone = opening.strftime("%Z")
    clock = opening.strftime("%I:%M %p").lstrip("0")
    days = (opening.date() - local.date()).days
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"on {DAY_NAMES[opening.weekday()]}"
    return f"at {clock} {zone} {when}"
