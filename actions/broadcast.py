"""Broadcasts in chat: staff preview, confirm and cancel; the notice reaching each person; the report
to its author; residents choosing notice topics. Everything is done by bot/broadcasts.py."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, entity, in_group, message_metadata, reporter, store
from bot.broadcasts import audience, compose, jobs, lifecycle, topics
from bot.broadcasts.errors import BroadcastError
from bot.config import broadcasts
from bot.config.service import wording
from bot.core.settings import get_settings
from bot.people import roster

ALL_TOPICS = "all"


def topic_buttons(chosen: list[str]) -> list[dict]:
    """One button per topic not yet chosen, and one for everything."""
    config = broadcasts.get_config()
    buttons = [{"title": label, "payload": f'/choose_notice_topics{{"notice_topic":"{code}"}}'}
               for code, label in config.topics.items() if code not in chosen]
    return buttons + [{"title": wording("buttons", "all_topics"), "payload": f'/choose_notice_topics{{"notice_topic":"{ALL_TOPICS}"}}'}]


class _StaffAction(Action, ABC):
    """Checks the sender is staff on every call (the same check as every staff command): a
    resident or volunteer is refused and nothing happens.
    Abstract, so the action server does not register it as an action of its own."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        if roster.authorize(channel, sender_id, store().engine) is None:
            dispatcher.utter_message(response="utter_broadcast_refused")
            return []
        if in_group(tracker):  # a preview is between the staff member and Linli
            dispatcher.utter_message(response="utter_broadcast_private_only")
            return []
        try:
            self.act(dispatcher, tracker, channel, sender_id)
        except BroadcastError as error:
            dispatcher.utter_message(text=error.user_message)
        return []

    @abstractmethod
    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, channel: str, sender_id: str) -> None:
        """Does the command for a sender known to be staff; a BroadcastError is said to them."""


class ActionBroadcastPreview(_StaffAction):
    """Reads the command, shows who would get it, and keeps it as a draft to confirm."""

    def name(self) -> Text:
        return "action_broadcast_preview"

    def act(self, dispatcher, tracker, channel, sender_id) -> None:
        settings, engine, now = get_settings(), store().engine, store().clock()
        draft = compose.parse_notice(entity(tracker, "command_args") or "", directory(), now,
                                         ZoneInfo(settings.timezone))
        photo = message_metadata(tracker).get("photo")
        draft = replace(draft, author_channel=channel, author_id=sender_id, image_id=photo,
                        image_channel=channel if photo else None)
        preview = audience.preview(engine, draft, directory(), audience.Reach.from_credentials(), now,
                                     serves=topics.serves(engine, channel, sender_id))
        view = lifecycle.create(engine, draft, directory(), now)
        dispatcher.utter_message(
            response="utter_broadcast_preview", broadcast_id=view.id, notice=view.text,
            details="\n".join(audience.describe_preview(preview, settings.timezone)),
            buttons=[{"title": wording("buttons", "broadcast_confirm"), "payload": f'/broadcast_confirm{{"broadcast_id":"{view.id}"}}'},
                     {"title": wording("buttons", "broadcast_cancel"), "payload": f'/broadcast_cancel{{"broadcast_id":"{view.id}"}}'}])


class ActionBroadcastConfirm(_StaffAction):
    """The author's confirmation hands the broadcast to the scheduler process, now or at its time."""

    def name(self) -> Text:
        return "action_broadcast_confirm"

    def act(self, dispatcher, tracker, channel, sender_id) -> None:
        from bot.core.text import local_time
        from bot.scheduling.scheduler import Scheduler

        engine, now = store().engine, store().clock()
        view = lifecycle.confirm(engine, entity(tracker, "broadcast_id"), channel, sender_id, now)
        scheduler = Scheduler(engine=engine).open()
        try:
            jobs.schedule(scheduler, view, now)
        finally:
            scheduler.stop(release=False)
        if view.send_at and view.send_at > now:
            dispatcher.utter_message(response="utter_broadcast_scheduled", broadcast_id=view.id,
                                     when=local_time(view.send_at, get_settings().timezone))
        else:
            dispatcher.utter_message(response="utter_broadcast_sending", broadcast_id=view.id)


class ActionBroadcastCancel(_StaffAction):
    """Any staff member may stop a broadcast: a wrong notice must be stoppable at once."""

    def name(self) -> Text:
        return "action_broadcast_cancel"

    def act(self, dispatcher, tracker, channel, sender_id) -> None:
        broadcast_id = entity(tracker, "broadcast_id")
        if not broadcast_id:
            dispatcher.utter_message(response="utter_broadcast_which")
            return
        view = lifecycle.cancel(store().engine, broadcast_id, f"{channel}:{sender_id}", store().clock())
        sent = view.counts.get("sent", 0) + view.counts.get("sending", 0)
        dispatcher.utter_message(response="utter_broadcast_cancelled", broadcast_id=view.id,
                                 progress=f"已发出 {sent} 人，其余不再发送。" if sent else "")


@lru_cache(maxsize=32)
def _notice(broadcast_id: str) -> Optional[tuple[str, str, Optional[str]]]:
    """Source, text and image of a broadcast; read once per process (they never change)."""
    view = lifecycle.get(store().engine, broadcast_id)
    if view is None:
        return None
    return lifecycle.notice_source(view, directory().street), view.text, view.image


class ActionBroadcastDeliver(Action):
    def name(self) -> Text:
        return "action_broadcast_deliver"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        notice = _notice(entity(tracker, "broadcast_id") or "")
        if notice is None:
            return []
        source, text, image = notice
        with_image = image if entity(tracker, "broadcast_image") == "yes" else None
        dispatcher.utter_message(response="utter_broadcast", source=source, notice=text, image=with_image)
        return []


class ActionBroadcastReport(Action):
    def name(self) -> Text:
        return "action_broadcast_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        view = lifecycle.get(store().engine, entity(tracker, "broadcast_id"))
        if view is None:
            return []
        lines = audience.describe_outcome(lifecycle.report(store().engine, view.id))
        if view.status == "cancelled":
            lines.insert(0, "（中途已取消）")
        dispatcher.utter_message(response="utter_broadcast_report", broadcast_id=view.id, details="\n".join(lines))
        return []


class ActionChooseNoticeTopics(Action):
    """A tapped topic is added to the resident's choice; "全都要" goes back to every topic."""

    def name(self) -> Text:
        return "action_choose_notice_topics"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        topic = entity(tracker, "notice_topic")
        try:
            subscribed, chosen = topics.choose_topic(store().engine, channel, sender_id,
                                                         None if topic in (None, ALL_TOPICS) else topic, store().clock())
        except BroadcastError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        labels = "、".join(broadcasts.get_config().topics[code] for code in chosen) or "全部"
        if not subscribed:
            dispatcher.utter_message(response="utter_notice_topics_unsubscribed", topics=labels)
        elif not chosen:
            dispatcher.utter_message(response="utter_notice_topics_all")
        else:
            dispatcher.utter_message(response="utter_notice_topics_set", topics=labels,
                                     buttons=topic_buttons(chosen))
        return []
