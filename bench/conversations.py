"""The held-out conversations (tests/data/conversations_heldout.yml) played on a real stack, with
the share that end where the person meant and, for every miss, why.

One stack (Rasa server + action server, its own SQLite database, tests/stack.py) for the whole run;
each conversation gets a new sender id, so no two share a tracker, a profile or a ticket, and the
tickets of a conversation are closed after it, so the next never meets them as duplicates. What a
conversation's ``given`` says exists is written to the database before its first turn (tickets by
TicketStore, moved along legal transitions; a volunteer record; a subscription; a remembered place);
a ``followup_asked`` ticket also gets the follow-up question through ``trigger_intent``, as the
scheduler sends it. Turns go over the REST channel, whatever ``channel`` the item names (REST is the
channel a test reaches without a platform; channel-specific behaviour is not measured here), and a
staff conversation's REST sender is put on the staff file for the whole street first, as the story
runner does (tests/conversations.py). Every ``expect`` key the file documents is checked; a key the
runner does not know counts as a miss, never as a pass.

    PYTHONPATH=. python bench/conversations.py                 # all, prints the share and the misses
    PYTHONPATH=. python bench/conversations.py --only c062 c070 --verbose
    PYTHONPATH=. python bench/conversations.py --json results/conversations.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELDOUT = ROOT / "tests" / "data" / "conversations_heldout.yml"
#: Legal status paths from a new ticket (bot/tickets: new → dispatched → in_progress → resolved → closed).
_PATH = {"new": [], "dispatched": [], "in_progress": ["in_progress"], "resolved": ["in_progress", "resolved"],
         "closed": ["in_progress", "resolved", "closed"]}
_TICKET_FIELDS = ("category", "community", "building", "unit", "room", "phone", "source")


class Run:
    """One stack, the database it writes, and the conversations played on it."""

    def __init__(self, stack, staff_file: Path) -> None:
        from bot.tickets.store import TicketStore

        self.stack = stack
        self.staff_file = staff_file
        self.store = TicketStore()
        self.engine = self.store.engine

    # -- what exists before the first turn ----------------------------------------------------------
    def _person(self, sender: str, item: dict) -> None:
        from bot.config.staff import StaffMember
        from bot.core.db import session_scope
        from bot.people import roster
        from bot.people.models import Person
        from bot.volunteers.models import Volunteer

        given, now = item.get("given") or {}, datetime.now(timezone.utc)
        if item.get("who") == "staff":
            roster.add_staff(StaffMember("rest", sender, name="值班员"), self.engine, self.staff_file)
        with session_scope(self.engine) as session:
            person = session.get(Person, ("rest", sender))  # staff: the roster made it
            if person is None:
                person = Person(channel="rest", sender_id=sender, role="resident", updated_at=now)
                session.add(person)
            if given.get("volunteer") is not None:
                rider = given["volunteer"]
                person.role = "volunteer" if rider.get("status", "active") == "active" else "resident"
                session.add(Volunteer(channel="rest", sender_id=sender, name="骑手", phone="13900009999",
                                      platform=rider.get("platform"), areas=rider.get("areas") or [],
                                      status=rider.get("status", "active"), consent=True,
                                      created_at=now, updated_at=now))
            profile = given.get("profile") or {}
            person.community, person.building = profile.get("community"), profile.get("building")
            person.subscribed = bool(given.get("subscribed"))

    def _tickets(self, sender: str, item: dict) -> dict:
        refs = {}
        for spec in (item.get("given") or {}).get("tickets") or []:
            reporter = sender if spec.get("reporter", "self") == "self" else f"{sender}-other"
            ticket = self.store.create(category=spec["category"], description=spec["description"],
                                       reporter_channel="rest", reporter_id=reporter,
                                       community=spec.get("community"), building=spec.get("building"),
                                       unit=spec.get("unit"), room=spec.get("room"))
            for status in _PATH[spec.get("status", "dispatched")]:
                self.store.transition(ticket.id, status, "bench")
            if spec.get("days_ago"):
                self._backdate(ticket.id, float(spec["days_ago"]))
            refs[spec["ref"]] = ticket.id
            if spec.get("followup_asked"):
                self._ask_followup(reporter, ticket.id)
        return refs

    def _backdate(self, ticket_id: str, days: float) -> None:
        from bot.core.db import session_scope
        from bot.tickets.models import Ticket

        with session_scope(self.engine) as session:
            row = session.get(Ticket, ticket_id)
            row.created_at = row.created_at - timedelta(days=days)

    def _ask_followup(self, sender: str, ticket_id: str) -> None:
        """The follow-up question as the scheduler asks it (bot/workflows/followups.py: ask): the
        asked follow-up row, the question through trigger_intent, the history step."""
        from bot.core.db import session_scope
        from bot.workflows.followups import FollowUp

        now = datetime.now(timezone.utc)
        with session_scope(self.engine) as session:
            session.add(FollowUp(ticket_id=ticket_id, round=1, status="asked", channel="rest", sender_id=sender,
                                 due_at=now, asked_at=now))
        answer = httpx.post(f"{self.stack.url}/conversations/{sender}/trigger_intent",
                            params={"output_channel": "latest"},
                            json={"name": "EXTERNAL_followup", "entities": {"ticket_id": ticket_id,
                                                                            "followup_round": "1"}}, timeout=60)
        answer.raise_for_status()
        self.store.record(ticket_id, "linli", "followup_asked", "第1次回访已发给居民")

    # -- one conversation ---------------------------------------------------------------------------
    def play(self, item: dict) -> dict:
        sender = f"held-{item['id']}-{uuid.uuid4().hex[:6]}"
        self._person(sender, item)
        refs = self._tickets(sender, item)
        before = {t.id for t in self.store.list(limit=10000)}
        replies: list[str] = []
        transcript: list[str] = []
        for turn in item["turns"]:
            text = _fill(str(turn), refs)
            said = "\n".join(m.get("text") or "" for m in self.stack.say(sender, text))
            replies.append(said)
            transcript.append(f"> {text}\n  " + said.replace("\n", "\n  "))
        created = sorted((t for t in self.store.list(limit=10000) if t.id not in before),
                         key=lambda t: (t.created_at, t.id))
        misses = self._check(item, sender, refs, created, "\n".join(replies))
        self._close(created + [self.store.get(t) for t in refs.values()])
        return {"id": item["id"], "who": item.get("who"), "note": item.get("note"), "passed": not misses,
                "misses": misses, "transcript": transcript}

    def _close(self, tickets: list) -> None:
        """Each conversation meets only the tickets its ``given`` lists: what the ones before filed is
        closed along the legal path, so it is never offered as "the same problem"."""
        for ticket in tickets:
            for status in _PATH["closed"][_PATH["closed"].index(ticket.status) + 1 if ticket.status in _PATH["closed"] else 0:]:
                self.store.transition(ticket.id, status, "bench")

    def _check(self, item: dict, sender: str, refs: dict, created: list, replies: str) -> list[str]:
        expect, misses = item.get("expect") or {}, []
        for key, wanted in expect.items():
            check = getattr(self, f"_expect_{key}", None)
            if check is None:
                misses.append(f"{key}: the runner cannot check this")
                continue
            misses += check(wanted, sender=sender, refs=refs, created=created, replies=replies)
        return misses

    @staticmethod
    def _ticket_misses(wanted: dict, ticket) -> list[str]:
        misses = []
        for name in _TICKET_FIELDS:
            if name in wanted and (getattr(ticket, name) or None) != (None if wanted[name] is None else str(wanted[name])):
                misses.append(f"ticket {name} = {getattr(ticket, name)!r}, meant {wanted[name]!r}")
        if "handler" in wanted and ticket.handler_name != wanted["handler"]:
            misses.append(f"ticket handler = {ticket.handler_name!r}, meant {wanted['handler']!r}")
        if "emergency" in wanted and (ticket.deadline_class == "emergency") != bool(wanted["emergency"]):
            misses.append(f"ticket deadline class = {ticket.deadline_class!r}, emergency meant {wanted['emergency']}")
        for phrase in wanted.get("description_contains") or []:
            if phrase not in ticket.description:
                misses.append(f"ticket description {ticket.description!r} lacks {phrase!r}")
        return misses

    def _expect_ticket(self, wanted, *, created, **_) -> list[str]:
        if len(created) != 1:
            return [f"{len(created)} tickets filed, meant 1"]
        return self._ticket_misses(wanted, created[0])

    def _expect_tickets(self, wanted, *, created, **_) -> list[str]:
        if len(created) != len(wanted):
            return [f"{len(created)} tickets filed, meant {len(wanted)}"]
        return [m for w, t in zip(wanted, created) for m in self._ticket_misses(w, t)]

    @staticmethod
    def _expect_tickets_created(wanted, *, created, **_) -> list[str]:
        return [] if len(created) == int(wanted) else [f"{len(created)} tickets filed, meant {wanted}"]

    @staticmethod
    def _expect_no_ticket(wanted, *, created, **_) -> list[str]:
        return [f"{len(created)} tickets filed, meant none"] if wanted and created else []

    @staticmethod
    def _expect_answer_contains(wanted, *, refs, replies, **_) -> list[str]:
        return [f"the replies never say {_fill(p, refs)!r}" for p in wanted if _fill(p, refs) not in replies]

    @staticmethod
    def _expect_answer_not_contains(wanted, *, refs, replies, **_) -> list[str]:
        return [f"the replies say {_fill(p, refs)!r}" for p in wanted if _fill(p, refs) in replies]

    def _expect_existing_ticket(self, wanted, *, refs, **_) -> list[str]:
        ticket = self.store.get(refs.get(wanted["ref"]))
        status = ticket.status if ticket else None
        return [] if status == wanted["status"] else [f"ticket {wanted['ref']} is {status!r}, meant {wanted['status']!r}"]

    def _expect_follows(self, wanted, *, sender, refs, **_) -> list[str]:
        return [] if self.store.is_follower(refs[wanted], "rest", sender) else [f"not a follower of {wanted}"]

    def _expect_volunteer(self, wanted, *, sender, **_) -> list[str]:
        from bot.volunteers import records

        rider = records.get(self.engine, "rest", sender)
        if rider is None:
            return ["no volunteer record"]
        misses = [f"volunteer {k} = {getattr(rider, k)!r}, meant {v!r}" for k, v in wanted.items()
                  if k in ("platform", "status") and getattr(rider, k) != v]
        if "areas" in wanted and sorted(rider.areas or []) != sorted(wanted["areas"]):
            misses.append(f"volunteer areas = {rider.areas!r}, meant {wanted['areas']!r}")
        return misses

    def _expect_subscription(self, wanted, *, sender, **_) -> list[str]:
        from bot.core.db import session_scope
        from bot.people.models import Person

        with session_scope(self.engine) as session:
            person = session.get(Person, ("rest", sender))
            subscribed, topics = (person.subscribed, list(person.topics or [])) if person else (False, [])
        misses = [] if subscribed == bool(wanted.get("subscribed", True)) else [f"subscribed = {subscribed}"]
        if "topics" in wanted and sorted(topics) != sorted(wanted["topics"]):
            misses.append(f"topics = {topics}, meant {wanted['topics']}")
        return misses

    def _expect_patrol_all_clear(self, wanted, *, sender, **_) -> list[str]:
        from sqlalchemy import select

        from bot.core.db import session_scope
        from bot.volunteers.models import PatrolAllClear

        with session_scope(self.engine) as session:
            found = session.execute(select(PatrolAllClear).where(PatrolAllClear.sender_id == sender)).first()
        return [] if bool(found) == bool(wanted) else [f"all-clear recorded: {bool(found)}, meant {wanted}"]

    def _expect_broadcast(self, wanted, *, sender, **_) -> list[str]:
        from sqlalchemy import select

        from bot.broadcasts.models import Broadcast
        from bot.core.db import session_scope

        with session_scope(self.engine) as session:
            rows = session.execute(select(Broadcast)).scalars().all()
            mine = [r for r in rows if r.author_id == sender]
            if not mine:
                return ["no broadcast by the sender"]
            row, misses = mine[-1], []
            for name in ("community", "topic"):
                if name in wanted and getattr(row, name) != wanted[name]:
                    misses.append(f"broadcast {name} = {getattr(row, name)!r}, meant {wanted[name]!r}")
            if "confirmed" in wanted and (row.status not in ("draft", "cancelled")) != bool(wanted["confirmed"]):
                misses.append(f"broadcast status {row.status!r}, confirmed meant {wanted['confirmed']}")
            return misses


def _fill(text: str, refs: dict) -> str:
    return re.sub(r"\{(t\d+)\}", lambda m: refs.get(m.group(1), m.group(0)), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="conversation ids to play")
    parser.add_argument("--verbose", action="store_true", help="print every miss's transcript")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    items = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))
    if args.only:
        items = [i for i in items if i["id"] in set(args.only)]
    from tests.stack import start_stack

    with tempfile.TemporaryDirectory(prefix="linli-conversations-") as tmp:
        staff_file = Path(tmp) / "staff.yml"
        staff_file.write_text((ROOT / "bot" / "data" / "staff.yml").read_text(encoding="utf-8"), encoding="utf-8")
        started = time.monotonic()
        stack = start_stack(Path(tmp), staff_file=str(staff_file))
        os.environ.update(stack.env)  # this process writes the given state into the stack's database
        from bot.config.directory import get_directory
        get_directory(reload=True)
        try:
            run = Run(stack, staff_file)
            results = [run.play(item) for item in items]
        finally:
            stack.stop()
        seconds = time.monotonic() - started
    passed = sum(r["passed"] for r in results)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"conversations passing: {passed}/{len(results)} ({passed / max(len(results), 1):.1%}) "
          f"commit {commit}, {platform.python_version()}, {os.cpu_count()} cores, {seconds:.0f} s")
    for who in sorted({r["who"] for r in results}):
        mine = [r for r in results if r["who"] == who]
        print(f"  {who}: {sum(r['passed'] for r in mine)}/{len(mine)}")
    for result in (r for r in results if not r["passed"]):
        print(f"- {result['id']} ({result['note']}): " + "; ".join(result["misses"]))
        if args.verbose:
            print("    " + "\n    ".join("\n".join(result["transcript"]).splitlines()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
