"""What staff read about proactive cases: the proposals of a season, with one approve button each."""
from __future__ import annotations

from bot.config.service import wording
from bot.proactive.cases import CaseView, list_cases, policy
from bot.tickets.store import TicketStore

#: Buttons under one notice or list (chat platforms show a handful well).
BUTTONS_MAX = 5


def approve_button(case: CaseView) -> dict:
    return {"title": wording("buttons", "proactive_approve", case_id=case.id), "payload": f'/proactive_approve{{"proactive_id":"{case.id}"}}'}


def case_line(store: TicketStore, case: CaseView) -> str:
    category = store.directory.service.categories[case.category].label
    return f"#{case.id}｜{case.place}｜{category}｜去年同期 {case.repeats} 次｜请留意{case.note}"


def proposals(store: TicketStore, cases: list[CaseView]) -> dict:
    return {"count": len(cases), "lines": "\n".join(case_line(store, c) for c in cases),
            "buttons": [approve_button(c) for c in cases[:BUTTONS_MAX]]}


def proactive_notice(store: TicketStore, season: str, season_start: str, community: str) -> tuple[str, dict]:
    """(response, parameters) for the notice of a community's proposals still waiting."""
    cases = list_cases(store, "proposed", (community,), season, season_start)
    if not cases or season not in policy().seasons:
        return "utter_staff_no_proactive", {}
    label = policy().season_of(season).label
    month, day = (int(x) for x in season_start.split("-")[1:])
    return "utter_notice_proactive", {"season": label, "starts": f"{month}月{day}日", **proposals(store, cases)}
