"""Fills a Linli database with a year of tickets and one ticket with many followers, as the product
would have written them, so conversation turns can be measured "after 100,000 tickets".

The schema is the product's own: create it first with any ``linli`` command that opens the database
(``python -m bot.cli tickets list``), then this module writes rows straight into its tables through
SQLAlchemy reflection. It imports nothing from ``bot/``: table and column names are the contract, and
the street (communities, buildings, property companies) and the policy (categories, tiers, deadline
classes, milestones, progress notices) are read from the YAML files the product reads.

What is written, per ticket, is what ``TicketStore.create`` and the later steps write:
- ``tickets``: id ``GD<local day><4-digit sequence>``, category, place, masked-nothing description,
  phone, reporter (channel + id), handler by category × building (property company, owner unit,
  community office or street department), tier, deadline class and deadline, status, first response;
- ``ticket_events``: created and dispatched; started (in_progress); resolved and closed for closed ones;
- ``ticket_sequences``: the last sequence of each local day (new tickets continue after it);
- ``followups``: an answered first-round follow-up for each closed ticket;
- ``deadline_watches``: one planned row per open ticket (a real database planned them when they were
  new; here the jobs are not in the job store, so nothing fires, and the scheduler's sweep has
  nothing to plan);
- ``progress_notices``: every history step that is news to residents is marked announced (it was,
  long ago), so the scheduler sends nothing during a benchmark;
- ``people``: each reporter's remembered community and building.

Tickets are spread over the last ``days`` days; those older than 30 days are closed, newer ones are
dispatched, in progress or closed. No random ticket is an open leak at the benchmark's building
(万柳西园社区 5号楼): the only open one there is the "hot" ticket, created a day ago, that
``followers`` residents follow (rows in ``ticket_followers`` and the milestone steps the product
writes: 2, 3, 5, 10, 20, 50 … residents, and the tier climb at ``followers_to_escalate``). The
benchmark's own complaints at that building then find it as the open ticket of the same problem.

    python bench/prefill.py sqlite:////tmp/linli.db --tickets 100000 --followers 5000
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import JSON, MetaData, create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
HOT_COMMUNITY, HOT_BUILDING, HOT_CATEGORY = "万柳西园社区", "5", "leak"
CHANNELS = ("wechat", "wechat", "wechat", "linli_telegram", "wecom")
DESCRIPTIONS = ("屋顶漏水，天花板往下滴", "电梯又停了，困在两层中间一会儿", "楼道里堆满了纸箱子",
                "楼下装修太吵，晚上十点还在砸墙", "小区门口积水很深", "垃圾桶好几天没人清", "充电桩坏了好几天",
                "暖气不热，屋里才十四度")
TABLES = ("tickets", "ticket_events", "ticket_sequences", "ticket_followers", "followups", "deadline_watches",
          "progress_notices", "people")


def data_file(env: str, name: str) -> Path:
    """The product's YAML file: the ``LINLI_*`` override, else wherever the package keeps it."""
    if os.environ.get(env):
        return Path(os.environ[env])
    found = sorted(ROOT.glob(f"bot/**/{name}"), key=lambda p: len(p.parts))
    if not found:
        raise SystemExit(f"cannot find {name} under bot/ (set {env})")
    return found[0]


class Street:
    """Just enough of the directory and service policy to route a ticket as the product does."""

    def __init__(self) -> None:
        directory = yaml.safe_load(data_file("LINLI_DIRECTORY", "directory.yml").read_text(encoding="utf-8"))
        self.service = yaml.safe_load(data_file("LINLI_SERVICE_CONFIG", "service.yml").read_text(encoding="utf-8"))
        self.departments = {d["id"]: d["name"] for d in directory["street"].get("departments", [])}
        self.buildings = {}  # (community, building id) -> {property_company?, owner_unit?}
        for community in directory["communities"]:
            for entry in community.get("buildings", []):
                for building in self._ids(entry):
                    self.buildings[(community["name"], building)] = entry
        self.places = sorted(self.buildings)
        self.categories = [c for c, rule in self.service["categories"].items()
                           if not str(rule.get("route", "")).startswith("department:new_employment")]
        self.tiers = list(self.service["tiers"])
        self.hours = {k: float(v) for k, v in self.service["deadline_classes"].items()}
        self.news = set(self.service.get("progress_notices", {}).get("actions", ()))
        self.escalate_at = int(self.service.get("duplicates", {}).get("followers_to_escalate", 0) or 0)

    @staticmethod
    def _ids(entry: dict) -> list[str]:
        if "id" in entry:
            return [str(entry["id"])]
        first, last = (int(x) for x in str(entry["ids"]).split("-"))
        return [str(i) for i in range(first, last + 1)]

    def dispatch(self, category: str, community: str, building: str) -> tuple[str, str]:
        route = str(self.service["categories"][category]["route"])
        if route.startswith("department:"):
            return "department", self.departments[route.split(":", 1)[1]]
        entry = self.buildings.get((community, building), {}) if route == "building" else {}
        if entry.get("property_company"):
            return "property_company", entry["property_company"]
        if entry.get("owner_unit"):
            return "owner_unit", entry["owner_unit"]
        return "community", community

    def climbed(self, tier: str) -> str:
        position = self.tiers.index(tier) if tier in self.tiers else len(self.tiers) - 1
        return self.tiers[min(position + 1, len(self.tiers) - 1)]


def milestone(reporters: int) -> bool:
    """The product's rule for which follower counts leave a history step (2, 3, 5, 10, 20, 50 …)."""
    if reporters <= 3:
        return reporters >= 2
    while reporters % 10 == 0:
        reporters //= 10
    return reporters in (1, 2, 5)


class Writer:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, future=True)
        self.meta = MetaData()
        self.meta.reflect(self.engine, only=list(TABLES))
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.rows: dict[str, list[dict]] = {name: [] for name in TABLES}

    def moment(self, value: datetime) -> datetime:
        """UTC; naive on SQLite, as the product's UtcDateTime stores it there."""
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if self.sqlite else value

    def add(self, table: str, **row) -> None:
        self.rows[table].append(row)

    def flush(self) -> dict:
        counts = {}
        with self.engine.begin() as connection:
            for name in TABLES:  # parents before children
                table, rows = self.meta.tables[name], self.rows[name]
                for column in table.columns:  # JSON columns reflected as something else on old SQLite
                    if not isinstance(column.type, JSON) and rows and isinstance(rows[0].get(column.name), list):
                        for row in rows:
                            row[column.name] = json.dumps(row[column.name], ensure_ascii=False)
                for start in range(0, len(rows), 5000):
                    connection.execute(insert(table), rows[start:start + 5000])
                counts[name] = len(rows)
            if not self.sqlite and self.rows["ticket_events"]:  # explicit ids: move the serial past them
                connection.execute(text("SELECT setval(pg_get_serial_sequence('ticket_events', 'id'), "
                                        "(SELECT max(id) FROM ticket_events))"))
        if not self.sqlite:  # PostgreSQL's autovacuum would have analysed a database this size; on
            # SQLite nothing ever runs ANALYZE, and its statistics would change the product's plans
            with self.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        return counts


def prefill(url: str, tickets: int, followers: int, days: int = 365, seed: int = 7,
            zone: str = "Asia/Shanghai") -> dict:
    started = time.perf_counter()
    street, writer, rnd = Street(), Writer(url), random.Random(seed)
    local = ZoneInfo(zone)
    now = datetime.now(timezone.utc)
    with writer.engine.connect() as connection:  # continue after what is there
        existing = connection.execute(select(func.count()).select_from(writer.meta.tables["tickets"])).scalar()
        sequences = dict(connection.execute(select(writer.meta.tables["ticket_sequences"].c.day,
                                                   writer.meta.tables["ticket_sequences"].c.last)).all())
    if existing:
        raise SystemExit(f"{url} already holds {existing} tickets: prefill a fresh database")
    next_event = [1]
    people: dict[tuple[str, str], tuple[str, str]] = {}
    weights = [max(1, 14 - i) for i in range(len(street.categories))]

    def new_id(created: datetime) -> str:
        day = created.astimezone(local).strftime("%Y%m%d")
        sequences[day] = sequences.get(day, 0) + 1
        return f"GD{day}{sequences[day]:04d}"

    def event(ticket_id: str, at: datetime, actor: str, action: str, from_status, to_status, note=None) -> None:
        writer.add("ticket_events", id=next_event[0], ticket_id=ticket_id, at=writer.moment(at), actor=actor,
                   action=action, from_status=from_status, to_status=to_status, note=note)
        if action in street.news:
            writer.add("progress_notices", event_id=next_event[0], planned_at=writer.moment(at))
        next_event[0] += 1

    def ticket(created: datetime, category: str, community: str, building: str, status: str,
               reporter: tuple[str, str], description: str, tier: str | None = None) -> dict:
        ticket_id = new_id(created)
        kind, handler = street.dispatch(category, community, building)
        rule = street.service["categories"][category]
        deadline = created + timedelta(hours=street.hours[rule["deadline_class"]])
        row = dict(id=ticket_id, category=category, community=community, building=building,
                   unit=str(rnd.randint(1, 6)), room=f"{rnd.randint(1, 18)}0{rnd.randint(1, 4)}",
                   description=description, photos=[], latitude=None, longitude=None,
                   phone=f"139{rnd.randrange(10 ** 8):08d}", reporter_channel=reporter[0], reporter_id=reporter[1],
                   source="resident", handler_kind=kind, handler_name=handler, tier=tier or rule["tier"],
                   deadline_class=rule["deadline_class"], deadline=writer.moment(deadline), status=status,
                   created_at=writer.moment(created), updated_at=writer.moment(created), merged_into=None,
                   first_response_at=None)
        writer.rows["tickets"].append(row)  # the same dict: later steps update it
        actor = f"{reporter[0]}:{reporter[1]}"
        event(ticket_id, created, actor, "created", None, "new")
        event(ticket_id, created, "linli", "dispatched", "new", "dispatched",
              f"派给{handler}（{street.service['tiers'][row['tier']]}）")
        current = "dispatched"
        if status in ("in_progress", "closed"):
            started_at = created + timedelta(hours=rnd.uniform(0.2, 30))
            event(ticket_id, started_at, "staff:bench", "in_progress", current, "in_progress")
            row["first_response_at"] = writer.moment(started_at)
            current = "in_progress"
        if status == "closed":
            resolved = created + timedelta(days=rnd.uniform(1, 6))
            event(ticket_id, resolved, "staff:bench", "resolved", current, "resolved", "已处理")
            asked = resolved + timedelta(hours=24)
            event(ticket_id, asked, "linli", "closed", "resolved", "closed", "居民确认已解决")
            writer.add("followups", ticket_id=ticket_id, round=1, status="answered", channel=reporter[0],
                       sender_id=reporter[1], due_at=writer.moment(asked), asked_at=writer.moment(asked),
                       answered_at=writer.moment(asked), closed_at=writer.moment(asked),
                       solved=rnd.choice(("solved", "solved", "partly")), satisfaction="satisfied", outcome="closed")
            row["updated_at"] = writer.moment(asked)
        else:
            writer.add("deadline_watches", ticket_id=ticket_id, deadline=writer.moment(deadline), planned=True,
                       reminded_at=writer.moment(deadline) if deadline < now else None,
                       escalated_at=writer.moment(deadline) if deadline < now else None)
        people[reporter] = (community, building)
        return row

    for _ in range(tickets):
        created = now - timedelta(seconds=rnd.uniform(300, days * 86400))
        category = rnd.choices(street.categories, weights)[0]
        community, building = rnd.choice(street.places)
        recent = now - created < timedelta(days=30)
        status = rnd.choice(("dispatched", "in_progress", "closed", "closed")) if recent else "closed"
        if (community, building, category) == (HOT_COMMUNITY, HOT_BUILDING, HOT_CATEGORY) and status != "closed":
            status = "closed"  # the hot ticket is the only open leak there
        who = rnd.randrange(200) if rnd.random() < 0.1 else 200 + rnd.randrange(80_000)
        ticket(created, category, community, building, status, (CHANNELS[who % len(CHANNELS)], f"resident-{who:06d}"),
               rnd.choice(DESCRIPTIONS))

    hot = None
    if followers:
        created = now - timedelta(days=1)
        row = ticket(created, HOT_CATEGORY, HOT_COMMUNITY, HOT_BUILDING, "dispatched", ("rest", "prefill-hot-reporter"),
                     "5号楼顶层屋顶漏水，雨天楼道里也往下滴")
        hot, tier = row["id"], row["tier"]
        for n in range(followers):
            at = created + timedelta(seconds=(n + 1) * 80_000 / followers)
            person = ("rest", f"prefill-follower-{n:06d}")
            writer.add("ticket_followers", ticket_id=hot, channel=person[0], sender_id=person[1],
                       added_at=writer.moment(at))
            people[person] = (HOT_COMMUNITY, HOT_BUILDING)
            if milestone(n + 2):
                event(hot, at, f"{person[0]}:{person[1]}", "followed", "dispatched", "dispatched",
                      f"又有居民反映同一问题，共{n + 2}人反映")
            if street.escalate_at and n + 1 == street.escalate_at and tier != street.tiers[-1]:
                tier = street.climbed(tier)
                event(hot, at, "linli", "escalated", "dispatched", "dispatched",
                      f"{n + 2}位居民反映同一问题，升级至{street.service['tiers'][tier]}（吹哨）")
            row["updated_at"] = writer.moment(at)
        row["tier"] = tier

    for (channel, sender_id), (community, building) in people.items():
        writer.add("people", channel=channel, sender_id=sender_id, role="resident", community=community,
                   building=building, subscribed=False, topics=[], staff_communities=[],
                   updated_at=writer.moment(now))
    for day, last in sorted(sequences.items()):
        writer.add("ticket_sequences", day=day, last=last)
    counts = writer.flush()
    writer.engine.dispose()
    return {"tickets": tickets + (1 if followers else 0), "followers": followers, "hot_ticket": hot,
            "rows": counts, "prefill_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url", help="a Linli database whose schema exists and holds no tickets")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--followers", type=int, default=5_000, help="followers of one open ticket")
    parser.add_argument("--days", type=int, default=365, help="tickets spread over this many days")
    args = parser.parse_args()
    print(json.dumps(prefill(args.database_url, args.tickets, args.followers, args.days), ensure_ascii=False))


if __name__ == "__main__":
    main()
