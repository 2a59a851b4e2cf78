"""The directory (who is where) and the dispatch rules (who must act on what).

Geography comes from the directory YAML (`LINLI_DIRECTORY`), policy from the service YAML
(`LINLI_SERVICE_CONFIG`); this module only reads them and applies them, so a street changes its
routing, tiers or deadlines by editing YAML. Both files are checked when they are loaded, so a
mistake in them stops the process at start-up instead of misrouting a resident's complaint.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bot.config.files import cached, read_yaml, reload_all
from bot.config.service import ServiceConfig
from bot.core.settings import get_settings

HANDLER_KINDS = ("property_company", "community", "owner_unit", "department")


@dataclass(frozen=True)
class Hotline:
    kind: str  # customer_service | control_room | engineering
    label: str
    number: str
    hours: str


@dataclass(frozen=True)
class PropertyCompany:
    name: str
    short_name: str
    hotlines: tuple[Hotline, ...]

    def hotline_text(self) -> str:
        return "\n".join(f"{h.label} {h.number}（{h.hours}）" for h in self.hotlines)


@dataclass(frozen=True)
class Building:
    id: str
    community: str
    property_company: Optional[str] = None
    owner_unit: Optional[str] = None

    @property
    def unmanaged(self) -> bool:
        return not self.property_company


@dataclass(frozen=True)
class Community:
    name: str
    aliases: tuple[str, ...]
    office_phone: str
    office_hours: str
    grid_workers: tuple[dict, ...]
    buildings: dict = field(hash=False, compare=False)
    area: Optional[tuple[float, float, float]] = None  # centre latitude, longitude and radius in metres

    def distance_m(self, latitude: float, longitude: float) -> Optional[float]:
        """How far a map location is from the community's centre (None: no area on file)."""
        if self.area is None:
            return None
        centre_lat, centre_lon, _ = self.area
        north = math.radians(latitude - centre_lat) * _EARTH_RADIUS_M
        east = math.radians(longitude - centre_lon) * _EARTH_RADIUS_M * math.cos(math.radians(centre_lat))
        return math.hypot(north, east)


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    phone: str
    hours: str
    categories: tuple[str, ...]


_EARTH_RADIUS_M = 6_371_000.0


def _area(raw: dict) -> Optional[tuple[float, float, float]]:
    """A community's ``area: {latitude, longitude, radius_m}``, if the directory gives one."""
    area = raw.get("area")
    if not area:
        return None
    try:
        return float(area["latitude"]), float(area["longitude"]), float(area["radius_m"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"community {raw.get('name')}: area needs latitude, longitude and radius_m ({error})") from error


def _expand_buildings(community: str, entries: list[dict]) -> dict[str, Building]:
    buildings: dict[str, Building] = {}
    for entry in entries:
        if "ids" in entry:
            first, last = (int(x) for x in str(entry["ids"]).split("-"))
            ids = [str(i) for i in range(first, last + 1)]
        else:
            ids = [str(entry["id"])]
        for building_id in ids:
            if building_id in buildings:
                raise ValueError(f"{community}: building {building_id} is listed twice")
            buildings[building_id] = Building(building_id, community, entry.get("property_company"),
                                              entry.get("owner_unit"))
    return buildings


class Directory:
    def __init__(self, raw: dict, service: ServiceConfig) -> None:
        self.service = service
        street = raw["street"]
        self.street = street["name"]
        self.street_office_phone = str(street.get("office_phone", ""))
        self.street_office_hours = street.get("office_hours", "")
        self.departments = {d["id"]: Department(d["id"], d["name"], str(d.get("phone", "")), d.get("hours", ""),
                                                tuple(d.get("categories", ())))
                            for d in street.get("departments", ())}
        self.property_companies = {
            p["name"]: PropertyCompany(p["name"], p.get("short_name", p["name"]),
                                       tuple(Hotline(h["kind"], h["label"], str(h["number"]), h.get("hours", ""))
                                             for h in p.get("hotlines", ())))
            for p in raw.get("property_companies", ())}
        self.communities = [Community(c["name"], tuple(c.get("aliases", ())), str(c.get("office_phone", "")),
                                      c.get("office_hours", ""), tuple(c.get("grid_workers", ())),
                                      _expand_buildings(c["name"], c.get("buildings", ())), _area(c))
                            for c in raw["communities"]]
        self._check()

    def _check(self) -> None:
        """Fails at load, not mid-conversation, when the YAML refers to something it does not define."""
        if not self.communities:
            raise ValueError("the directory lists no community")
        for community in self.communities:
            for building in community.buildings.values():
                if building.property_company and building.property_company not in self.property_companies:
                    raise ValueError(f"{community.name} {building.id}: unknown property company "
                                     f"{building.property_company}")
        for code, route in self.service.routes().items():
            if route.startswith("department:") and route.split(":", 1)[1] not in self.departments:
                raise ValueError(f"{code} routes to unknown {route}")

    @classmethod
    def load(cls, path: Path | str, service_path: Path | str | None = None) -> "Directory":
        """The directory at ``path`` with the service policy at ``service_path`` (default: settings)."""
        raw = read_yaml(path)
        return cls(raw, ServiceConfig.load(Path(service_path or get_settings().service_path)))

    def single_community(self) -> Optional[str]:
        """The street's only community, when it has just one: then nobody needs to be asked."""
        return self.communities[0].name if len(self.communities) == 1 else None

    def community_of(self, named: Optional[str]) -> Optional[str]:
        """The community a resident named, or the only one there is."""
        return named or self.single_community()

    def community_aliases(self) -> list[tuple[str, str]]:
        """(written form, canonical name) pairs for the entity extractor."""
        return [(alias, c.name) for c in self.communities for alias in (c.name, *c.aliases)]

    def community_at(self, latitude: float, longitude: float) -> Optional[Community]:
        """The community a shared map location falls in: the nearest whose area holds it."""
        inside = [(distance, c) for c in self.communities
                  if (distance := c.distance_m(latitude, longitude)) is not None and c.area and distance <= c.area[2]]
        return min(inside, key=lambda found: found[0])[1] if inside else None

    def find_community(self, text: Optional[str]) -> Optional[Community]:
        """The community a name, alias or sentence refers to; the longest alias mentioned wins.

        The street's own name is ignored: 望园街道 is the street, not 望园社区.
        """
        text = (text or "").strip().replace(self.street, "")
        matches = [(len(alias), name) for alias, name in self.community_aliases() if alias in text]
        if not matches:
            return None
        name = max(matches)[1]
        return next(c for c in self.communities if c.name == name)

    def building(self, community: Optional[str], building_id: Optional[str]) -> Optional[Building]:
        found = self.find_community(community)
        return found.buildings.get(str(building_id).strip()) if found and building_id is not None else None

    def buildings_of(self, community: str) -> list[Building]:
        found = self.find_community(community)
        return list(found.buildings.values()) if found else []

    def property_company(self, name: str) -> Optional[PropertyCompany]:
        return self.property_companies.get(name)

    def company_named_in(self, text: Optional[str]) -> Optional[PropertyCompany]:
        """The property company a message names by full or short name ("首华物业电话多少")."""
        text = text or ""
        return next((c for c in self.property_companies.values() if c.name in text or c.short_name in text), None)

    def grid_workers_for(self, community: Optional[str], building_id: Optional[str] = None) -> list[dict]:
        """The grid workers of a community; with a building, only those whose grid covers it
        (grids are written as the residents read them: "1-6号楼", "9号楼")."""
        found = self.find_community(community)
        if not found:
            return []
        if building_id is None or not str(building_id).isdigit():
            return list(found.grid_workers)
        return [w for w in found.grid_workers if _covers(str(w.get("grid", "")), int(building_id))]

    def location_needs(self, category: str) -> list[str]:
        known = self.service.categories.get(category)
        return list(known.location) if known else ["building"]



def _covers(grid: str, building: int) -> bool:
    """Whether a grid ("1-6号楼", "7、9号楼") covers a building number."""
    for part in re.split(r"[、,，]", grid):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if bounds and bounds[0] <= building <= bounds[-1]:
            return True
    return False


@cached
def _load(directory_path: str, service_path: str) -> Directory:
    return Directory.load(Path(directory_path), Path(service_path))


def get_directory(*, reload: bool = False) -> Directory:
    """The directory named by the current settings, loaded once per process (``reload``: read every
    configuration file again, for tests and after an edit)."""
    if reload:
        reload_all()
    settings = get_settings()
    return _load(str(settings.directory_path), str(settings.service_path))
