"""Where buildings are, for the ticket page's small map: optional ``latitude``/``longitude`` on a
building entry of the directory YAML (``{id: "5", property_company: …, latitude: 39.88, longitude:
116.31}``; a range entry gives its first building the point). ``bot.config.directory`` ignores these keys;
the integrator may move them into ``Building``."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from bot.core.settings import get_settings


@lru_cache(maxsize=4)
def _points(path: str) -> dict:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    found: dict = {}
    for community in raw.get("communities") or ():
        for entry in community.get("buildings") or ():
            if entry.get("latitude") is None or entry.get("longitude") is None:
                continue
            first = str(entry["ids"]).split("-")[0] if "ids" in entry else str(entry.get("id"))
            found.setdefault(community["name"], {})[first] = (float(entry["latitude"]), float(entry["longitude"]))
    return found


def building_points(community: Optional[str]) -> dict:
    """building id -> (latitude, longitude) of one community's buildings that have coordinates."""
    return dict(_points(str(get_settings().directory_path)).get(community or "", {}))


def sketch(latitude: float, longitude: float, buildings: dict, width: int = 320, height: int = 220,
           margin: int = 24) -> dict:
    """Points of the ticket and of the buildings in an SVG box (north up, equal metres both ways)."""
    import math

    points = [(latitude, longitude), *buildings.values()]
    scale_x = math.cos(math.radians(latitude))
    xs = [lon * scale_x for _, lon in points]
    ys = [lat for lat, _ in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-4)
    unit = min(width - 2 * margin, height - 2 * margin) / span

    def at(lat: float, lon: float) -> tuple[float, float]:
        return (round(margin + (lon * scale_x - min(xs)) * unit, 1), round(height - margin - (lat - min(ys)) * unit, 1))

    metres = span * 111_320
    return {"width": width, "height": height, "ticket": at(latitude, longitude),
            "buildings": [(building, *at(lat, lon)) for building, (lat, lon) in sorted(buildings.items())],
            "span_metres": int(metres)}
