"""Settings of the staff report (service.yml ``report``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.files import read_yaml
from bot.privacy.masks import mask_sender

# -- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportConfig:
    """The ``report:`` section of service.yml (see the comments there), plus the labels of codes."""

    out_dir: str
    thresholds: dict  # period kind -> {"building": n, "category": n, "reporter": n}
    list_max: int
    reporter_ticket_ids: int
    overdue_list_max: int
    overdue_ageing_days: tuple[int, ...]
    chart_categories_max: int
    heatmap_buildings_max: int
    handler_kinds: dict
    sources: dict
    channels: dict
    unlocated: str
    categories: dict  # code -> label, from the service policy
    statuses: dict  # code -> label
    tiers: dict  # code -> label
    digest_weekly: str = ""  # the Monday digest's lines about last week ({week}, {figures_url}, {files_url})

    @classmethod
    def load(cls, path: Path | str, service) -> "ReportConfig":
        raw: dict = (read_yaml(path) or {}).get("report") or {}
        try:
            labels = raw["labels"]
            config = cls(out_dir=str(raw["out_dir"]),
                         thresholds={kind: {k: int(raw["high_frequency"][kind][k])
                                            for k in ("building", "category", "reporter")} for kind in PERIOD_KINDS},
                         list_max=int(raw["list_max"]), reporter_ticket_ids=int(raw["reporter_ticket_ids"]),
                         overdue_list_max=int(raw["overdue_list_max"]),
                         overdue_ageing_days=tuple(int(d) for d in raw["overdue_ageing_days"]),
                         chart_categories_max=int(raw["chart_categories_max"]),
                         heatmap_buildings_max=int(raw["heatmap_buildings_max"]),
                         handler_kinds=dict(labels["handler_kinds"]), sources=dict(labels["sources"]),
                         channels=dict(labels["channels"]), unlocated=str(labels["unlocated"]),
                         categories={code: c.label for code, c in service.categories.items()},
                         statuses=dict(service.status_labels), tiers=dict(service.tiers),
                         digest_weekly=str(raw.get("digest_weekly") or ""))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: report: missing or malformed setting: {error}") from error
        edges = config.overdue_ageing_days
        if not edges or list(edges) != sorted(set(edges)) or edges[0] <= 0:
            raise ValueError(f"{path}: report.overdue_ageing_days must be increasing positive days")
        return config

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def reporter(self, channel: str, sender_id: str) -> str:
        return f"{self.channels.get(channel, channel)}·{mask_sender(sender_id)}"

    def ageing_labels(self) -> list[str]:
        edges = self.overdue_ageing_days
        return ([f"{edges[0]}天以内"] + [f"{a}–{b}天" for a, b in zip(edges, edges[1:])]
                + [f"{edges[-1]}天以上"])


PERIOD_KINDS = ("week", "month")
