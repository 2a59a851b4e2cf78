"""Duplicate reports: distances between map locations, and when followers go into a ticket's history."""
from __future__ import annotations

import math


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points."""
    (lat1, lon1), (lat2, lon2) = (map(math.radians, p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def is_milestone(reporters: int) -> bool:
    """Whether this many residents reporting one problem goes into the history (2, 3, 5, 10, 20,
    50, 100 …): a building-wide outage followed by hundreds would otherwise bury the steps that
    matter, and be read in full on every status check. Who follows is in ``ticket_followers``."""
    if reporters <= 3:
        return reporters >= 2
    while reporters % 10 == 0:
        reporters //= 10
    return reporters in (1, 2, 5)
