"""Dispatch (派单): who must act on a ticket, at which tier, and by when.

Routing is by category × building, as service.yml's categories say: the building's property
company, else its owner unit, else the community office; or a street department. The words of the
resident's description can make a report an emergency (service.yml ``emergencies``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from bot.config.directory import Directory
from bot.core.clock import utcnow


@dataclass(frozen=True)
class Dispatch:
    """Who must act on a ticket, at which tier, and by when."""

    handler_kind: str  # one of HANDLER_KINDS
    handler_name: str
    handler_phones: tuple[str, ...]
    tier: str
    deadline_class: str
    deadline_hours: float
    deadline: datetime


def emergency_kind(directory: Directory, category: Optional[str], description: Optional[str]) -> Optional[str]:
    """The kind of emergency a report shows, from its own words and its category ("楼道里煤气味",
    "水管爆了", a building without power), or None. The first kind listed in service.yml wins."""
    return next((e.kind for e in directory.service.emergencies.values() if e.fits(category, description or "")),
                None)


def is_emergency(directory: Directory, category: str, description: Optional[str]) -> bool:
    """Risk to life or property: the 2-hour deadline class."""
    return deadline_class(directory, category, description) == "emergency"


def deadline_class(directory: Directory, category: str, description: Optional[str]) -> str:
    kind = emergency_kind(directory, category, description)
    if kind:
        return directory.service.emergencies[kind].deadline_class
    return directory.service.categories[category].deadline_class


def dispatch(directory: Directory, category: str, community: Optional[str], building_id: Optional[str],
             description: Optional[str] = None, now: Optional[datetime] = None) -> Dispatch:
    """Routes by category × building, with the tier and deadline from service policy."""
    rule = directory.service.categories.get(category)
    if rule is None:
        raise ValueError(f"unknown category {category}")
    handler_kind, handler_name, phones = _handler(directory, rule.route, community, building_id)
    chosen = deadline_class(directory, category, description)
    hours = float(directory.service.deadline_classes[chosen])
    now = now or utcnow()
    return Dispatch(handler_kind, handler_name, phones, rule.tier, chosen, hours, now + timedelta(hours=hours))


def _handler(directory: Directory, route: str, community: Optional[str], building_id: Optional[str]):
    found = directory.find_community(community)
    if not route.startswith("department:") and found is None:
        route = directory.service.unlocated_route
    if route.startswith("department:"):
        department = directory.departments[route.split(":", 1)[1]]
        return "department", department.name, (department.phone,)
    assert found is not None, "a ticket with no known community takes unlocated_route, a department"
    building = directory.building(found.name, building_id) if route == "building" else None
    if building and building.property_company:
        company = directory.property_companies[building.property_company]
        return "property_company", company.name, tuple(h.number for h in company.hotlines)
    if building and building.owner_unit:
        return "owner_unit", building.owner_unit, (found.office_phone,)
    return "community", found.name, (found.office_phone,)
