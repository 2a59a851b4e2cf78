"""Conversation tests that really run: each story of tests/stories/ is played through a real stack
(Rasa server, action server on its own port, its own database), turn by turn over the REST channel,
and the tracker Rasa kept is compared with the story.

``rasa test core`` cannot do this: it replays a story's own events and only asks the policies what
comes next (rasa/core/test.py, ``_predict_tracker_actions``), so no custom action ever runs there,
whatever the endpoints say, and neither the forms' validation nor the staff role check is tried.

Per user turn the story says, and this checks against the tracker:

- the intent the message was read as (a ``/intent{...}`` payload: as written);
- the actions that ran, in order, until Rasa listened again (``action_listen`` left out);
- the ``active_loop`` changes, in order, and each ``slot_was_set`` value (the turn's last value of
  that slot).

A story's ``metadata`` (Rasa's story schema allows it there) says what the story needs:

``as``      who speaks: ``resident`` (default, a new person), ``staff`` (listed in the stack's staff
            file for the whole street) or ``volunteer`` (an approved rider, phone 13900001111);
``person``  what the database already knows of the speaker: ``community``, ``building`` (the
            place offered again), ``subscribed`` (to community notices);
``neighbour`` the same for another resident of the story (and ``as``, as above, and ``channel``:
            ``wechat`` for someone a broadcast can reach; the REST channel cannot be pushed to);
``before``  messages said before the story and not checked, each ``{self: text}``,
            ``{neighbour: text}`` (another resident) or ``{staff: text}`` (a staff member of the
            whole street); a payload taps the button its speaker was last offered, as below;
``turns``   per user turn (numbered from 1): ``metadata`` (the message metadata a channel adds:
            photo, location, chat type) and ``says`` (text every reply of that turn must contain,
            together), ``not_says`` (text it must not contain).

``xfail``   why the story fails for now (a product bug): the test is a strict xfail.

A payload turn (``/broadcast_confirm{"broadcast_id":"12"}``) taps the button of the previous
replies with the same intent and the same entities apart from ids, as a person would: the ids in a
story cannot be the ones this run's database hands out. For the same reason an intent-only turn's
``…_id`` entities take the last value of that name offered in any button of the story's run.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import httpx
import yaml

from tests.stack import Stack

STORIES = Path(__file__).parent / "stories"
_PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.S)


@dataclass
class Turn:
    text: Optional[str]
    intent: str
    entities: list
    actions: list = field(default_factory=list)
    loops: list = field(default_factory=list)
    slots: dict = field(default_factory=dict)


@dataclass
class Story:
    name: str
    path: Path
    metadata: dict
    turns: list[Turn]


def load_stories() -> list[Story]:
    stories = []
    for path in sorted(STORIES.glob("*.yml")):
        for raw in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stories") or []:
            turns: list[Turn] = []
            for step in raw["steps"]:
                if "intent" in step:
                    turns.append(Turn(step.get("user"), step["intent"], step.get("entities") or []))
                elif "action" in step:
                    turns[-1].actions.append(step["action"])
                elif "active_loop" in step:
                    turns[-1].loops.append(step["active_loop"])
                elif "slot_was_set" in step:
                    for item in step["slot_was_set"]:
                        turns[-1].slots.update(item if isinstance(item, dict) else {item: None})
                else:
                    raise ValueError(f"{path.name}: {raw['story']}: a step the runner does not know: {step}")
            stories.append(Story(raw["story"], path, raw.get("metadata") or {}, turns))
    return stories


def _entities(turn: Turn) -> dict:
    found = {}
    for item in turn.entities:
        found.update(item if isinstance(item, dict) else {item: None})
    return found


def _same_but_ids(mine: dict, theirs: dict) -> bool:
    keys = set(mine) | set(theirs)
    return all(mine.get(k) == theirs.get(k) for k in keys if not k.endswith("_id"))


class Player:
    """Plays stories on one stack; ``staff_file`` is the stack's (LINLI_STAFF_FILE)."""

    def __init__(self, stack: Stack, engine, staff_file: Path) -> None:
        self.stack = stack
        self.engine = engine
        self.staff_file = staff_file
        self.transcript: list[str] = []  # the last story played, turn by turn, for failure messages

    # -- the speaker --------------------------------------------------------------------------------
    def _person(self, sender: str, role: str, known: dict) -> None:
        channel = known.get("channel", "rest")
        from bot.config.staff import StaffMember
        from bot.core.db import session_scope
        from bot.people import roster
        from bot.people.models import Person
        from bot.volunteers.models import Volunteer

        now = datetime.now(timezone.utc)
        if role == "staff":
            roster.add_staff(StaffMember("rest", sender, name="测试员"), self.engine, self.staff_file)
        with session_scope(self.engine) as session:
            person = session.get(Person, (channel, sender))
            if person is None:
                person = Person(channel=channel, sender_id=sender, role="resident", updated_at=now)
                session.add(person)
            if role == "volunteer":
                person.role = "volunteer"
                session.add(Volunteer(channel=channel, sender_id=sender, name="张强", phone="13900001111",
                                      platform="美团", areas=["望园社区"], status="active", consent=True,
                                      created_at=now, updated_at=now))
            person.community, person.building = known.get("community"), known.get("building")
            person.subscribed = bool(known.get("subscribed"))
            person.updated_at = now

    # -- one turn --------------------------------------------------------------------------------------
    def _text(self, turn: Turn, earlier: list[dict]) -> str:
        payload = _PAYLOAD.match(turn.text or "")
        if not payload or turn.intent not in (payload.group(1),):
            return turn.text
        wanted = json.loads(payload.group(2) or "{}")
        for button in (b for message in reversed(earlier) for b in message.get("buttons") or []):
            offered = _PAYLOAD.match(button["payload"])
            if offered and offered.group(1) == turn.intent and \
                    _same_but_ids(json.loads(offered.group(2) or "{}"), wanted):
                return button["payload"]
        return turn.text

    def _say(self, sender: str, turn: Turn, earlier: list[dict], metadata: Optional[dict]) -> list[dict]:
        if turn.text is None:  # an intent only: what the scheduler sends through trigger_intent
            entities = {k: self._ids.get(k, v) if k.endswith("_id") else v for k, v in _entities(turn).items()}
            answer = httpx.post(f"{self.stack.url}/conversations/{sender}/trigger_intent",
                                params={"output_channel": "latest"},
                                json={"name": turn.intent, "entities": entities}, timeout=60)
            answer.raise_for_status()
            replies = answer.json().get("messages") or []
        else:
            replies = self.stack.say(sender, self._text(turn, earlier), metadata)
        for button in (b for message in replies for b in message.get("buttons") or []):
            offered = _PAYLOAD.match(button["payload"])
            if offered and offered.group(2):
                self._ids.update({k: v for k, v in json.loads(offered.group(2)).items() if k.endswith("_id")})
        return replies

    def _events(self, sender: str) -> list[dict]:
        answer = httpx.get(f"{self.stack.url}/conversations/{sender}/tracker", timeout=60)
        answer.raise_for_status()
        return answer.json()["events"]

    # -- a story ---------------------------------------------------------------------------------------
    def play(self, story: Story) -> list[str]:
        """Plays ``story`` with a new speaker; returns what differed from it (empty: it passed)."""
        meta = story.metadata
        tag = uuid.uuid4().hex[:8]
        speakers = {"self": f"story-{tag}", "neighbour": f"story-{tag}-neighbour", "staff": f"story-{tag}-staff"}
        sender = speakers["self"]
        self._ids: dict[str, str] = {}
        self._person(sender, meta.get("as", "resident"), meta.get("person") or {})
        self._person(speakers["staff"], "staff", {})
        neighbour = dict(meta.get("neighbour") or {})
        self._person(speakers["neighbour"], neighbour.pop("as", "resident"), neighbour)
        offered: dict[str, list[dict]] = {}
        for said in meta.get("before") or []:
            (who, text), = said.items()
            turn = Turn(text, (_PAYLOAD.match(text) or [None, None])[1] or "", [])
            offered[who] = self._say(speakers[who], turn, offered.get(who, []), None)
        extras = {int(k): v for k, v in (meta.get("turns") or {}).items()}
        problems: list[str] = []
        replies: list[dict] = []
        self.transcript = []
        for number, turn in enumerate(story.turns, 1):
            extra = extras.get(number) or {}
            # The turn's events start at its user message: counted, not indexed, as the tracker store
            # may serialise a new session's opening events differently from one read to the next.
            heard = sum(e["event"] == "user" for e in self._events(sender))
            replies = self._say(sender, turn, replies, extra.get("metadata"))
            events = self._events(sender)
            users = [i for i, e in enumerate(events) if e["event"] == "user"]
            events = events[users[heard]:] if len(users) > heard else []
            problems += [f"turn {number} ({turn.text or turn.intent}): {p}" for p in self._compare(turn, events)]
            said = "\n".join(m.get("text") or "" for m in replies)
            self.transcript.append(f"{number}> {turn.text or turn.intent}\n   " + "\n   ".join(
                [f"{e['event']} {e.get('name') or ''} {json.dumps(e.get('value'), ensure_ascii=False) if e['event'] == 'slot' else ''}"
                 .rstrip() for e in events if e["event"] in ("action", "active_loop", "slot")]
                + [f"bot: {line}" for line in said.splitlines()]))
            if extra.get("says") and extra["says"] not in said:
                problems.append(f"turn {number}: the replies do not say {extra['says']!r}: {said!r}")
            if extra.get("not_says") and extra["not_says"] in said:
                problems.append(f"turn {number}: the replies say {extra['not_says']!r}: {said!r}")
        return problems

    @staticmethod
    def _compare(turn: Turn, events: list[dict]) -> list[str]:
        """The turn's events, from its user message to Rasa listening again."""
        problems = []
        users = [i for i, e in enumerate(events) if e["event"] == "user"]
        if len(users) != 1:
            return [f"{len(users)} user messages in the turn's events"]
        intent = events[users[0]]["parse_data"]["intent"]["name"]
        events = events[users[0] + 1:]
        if intent != turn.intent:
            problems.append(f"read as intent {intent!r}, the story says {turn.intent!r}")
        actions = [e["name"] for e in events if e["event"] == "action" and e["name"] != "action_listen"]
        if actions != turn.actions:
            problems.append(f"actions {actions}, the story says {turn.actions}")
        loops = [e.get("name") for e in events if e["event"] == "active_loop"]
        if loops != turn.loops:
            problems.append(f"active_loop {loops}, the story says {turn.loops}")
        slots = {}
        for e in events:
            if e["event"] == "slot":
                slots[e["name"]] = e["value"]
        for name, value in turn.slots.items():
            if name not in slots or slots[name] != value:
                problems.append(f"slot {name} = {slots.get(name, '(not set)')!r}, the story says {value!r}")
        return problems


def story_id(story: Story) -> str:
    return f"{story.path.stem}: {story.name}"


__all__ = ["Player", "Story", "load_stories", "story_id"]
