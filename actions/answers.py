"""Answers from the directory: who handles a building's problems, and how to reach its property company."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, latest_intent
from bot.tickets.dispatch import dispatch


def _place(tracker: Tracker):
    community = directory().community_of(tracker.get_slot("community"))
    building = tracker.get_slot("building")
    return community, (directory().building(community, building) if community and building else None)


def _category(tracker: Tracker) -> Optional[str]:
    """The problem the question is about, when the message names one confidently ("漏水归谁管")."""
    guess = (tracker.latest_message or {}).get("category") or {}
    confident = guess.get("confidence", 0.0) >= directory().service.category_min_confidence
    return guess.get("name") if confident and guess.get("name") != "other" else None


def responsible_party(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    community, building = _place(tracker)
    if not building:
        dispatcher.utter_message(response="utter_ask_building")
        return
    category = _category(tracker)
    routed = dispatch(directory(), category or "other", community, building.id)
    if building.property_company and routed.handler_kind == "property_company":
        company = directory().property_company(building.property_company)
        dispatcher.utter_message(response="utter_responsible_property", community=community,
                                 building=building.id, company=company.name,
                                 hotline=company.hotline_text())
    elif building.owner_unit:
        dispatcher.utter_message(response="utter_responsible_owner_unit", community=community,
                                 building=building.id, owner_unit=building.owner_unit,
                                 office_phone=directory().find_community(community).office_phone)
    else:
        office = directory().find_community(community)
        dispatcher.utter_message(response="utter_responsible_unmanaged", community=community,
                                 building=building.id, office_phone=office.office_phone,
                                 office_hours=office.office_hours)
    if category and routed.handler_kind == "department":
        dispatcher.utter_message(response="utter_responsible_department",
                                 category=directory().service.categories[category].label,
                                 handler=routed.handler_name)


def property_hotline(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    community, building = _place(tracker)
    if not building:
        dispatcher.utter_message(response="utter_ask_building")
        return
    if not building.property_company:
        office = directory().find_community(community)
        dispatcher.utter_message(response="utter_hotline_unmanaged", community=community,
                                 building=building.id, office_phone=office.office_phone,
                                 office_hours=office.office_hours)
        return
    company = directory().property_company(building.property_company)
    dispatcher.utter_message(response="utter_property_hotline", company=company.name,
                             building=building.id, hotline=company.hotline_text())


def answer_in_place(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answers a side question asked in the middle of a form; True when it was one."""
    intent = latest_intent(tracker)
    if intent == "faq":
        selector = ((tracker.latest_message or {}).get("response_selector") or {}).get("faq") or {}
        utter = (selector.get("response") or {}).get("utter_action")
        if utter:
            dispatcher.utter_message(response=utter)
    elif intent == "ask_responsible_party":
        responsible_party(dispatcher, tracker)
    elif intent == "ask_property_hotline":
        property_hotline(dispatcher, tracker)
    elif intent == "help":
        dispatcher.utter_message(response="utter_help_in_form")
    else:
        return False
    return True


class ActionAnswerResponsibleParty(Action):
    def name(self) -> Text:
        return "action_answer_responsible_party"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        responsible_party(dispatcher, tracker)
        return [SlotSet("requested_slot", None)]


class ActionAnswerPropertyHotline(Action):
    def name(self) -> Text:
        return "action_answer_property_hotline"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        property_hotline(dispatcher, tracker)
        return [SlotSet("requested_slot", None)]
