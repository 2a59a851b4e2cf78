"""The queue's reads on SQLite and PostgreSQL: every count agrees with counting the tickets one by
one, choosing a value keeps the counts of the other values of that filter, a community's staff
never see another community's tickets, and pages come in deadline order without gaps."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.workbench import queries
from bot.workbench.auth import Subject
from bot.workbench.models import init_tables

ZONE = ZoneInfo("Asia/Shanghai")
STREET = Subject("staff", "wecom", "street", ())
WANGYUAN = Subject("staff", "wecom", "wangyuan", ("望园社区",))

PLACES = [("望园社区", "3", "leak"), ("望园社区", "3", "noise"), ("望园社区", "6", "leak"), ("万柳西园社区", "5", "elevator"),
          ("万柳西园社区", "9", "leak"), ("万柳西园社区", "5", "corridor_clutter"), ("望园社区", "2", "sanitation")]


@pytest.fixture
def seeded(engine, store, clock):
    init_tables(engine)
    made = []
    for n in range(21):
        community, building, category = PLACES[n % len(PLACES)]
        ticket = store.create(category=category, description=f"第{n}件", reporter_channel="rest", reporter_id=f"r{n}",
                              community=community, building=building, source="volunteer" if n % 5 == 0 else "resident")
        if n % 3 == 1:
            store.transition(ticket.id, "resolved", "staff:x")
        elif n % 4 == 2:
            store.transition(ticket.id, "in_progress", "staff:x")
        made.append(ticket.id)
        clock.advance(hours=5)
    clock.advance(days=6)  # some ordinary ones are past their 7 days now
    return [store.get(i) for i in made]


def expected(tickets, subject, now, **only):
    def keep(t):
        checks = {"status": t.status, "category": t.category, "community": t.community,
                  "building": f"{t.community}:{t.building}", "overdue": t.is_overdue(now), "source": t.source}
        return subject.sees(t.community, t.handler_name) and all(checks[k] == v for k, v in only.items())
    return [t for t in tickets if keep(t)]


@pytest.mark.parametrize("only", [{}, {"community": "望园社区"}, {"status": "dispatched"}, {"category": "leak"},
                                  {"overdue": True}, {"building": "望园社区:3", "status": "dispatched"},
                                  {"source": "volunteer"}])
def test_counts_agree_with_the_tickets(engine, seeded, clock, only):
    now = clock()
    f = queries.QueueFilter(**only)
    found = queries.queue(engine, STREET, f, now, ZONE, page_size=5)
    matching = expected(seeded, STREET, now, **only)
    assert found.total == len(matching) == queries.count(engine, STREET, f, now, ZONE)
    others = {k: v for k, v in only.items() if k != "status"}
    assert dict(found.counts["status"]) == dict(Counter(t.status for t in expected(seeded, STREET, now, **others)))
    if "status" in only:  # the chosen status's neighbours keep their counts
        assert len(found.counts["status"]) > 1
    shown = []
    for page in range(1, found.pages + 1):
        shown += queries.queue(engine, STREET, queries.QueueFilter(**only, page=page), now, ZONE, page_size=5).rows
    assert sorted(r.id for r in shown) == sorted(t.id for t in matching)
    open_rows = [r for r in shown if r.seconds_left is not None]
    assert shown[:len(open_rows)] == open_rows  # open first
    assert [r.seconds_left for r in open_rows] == sorted(r.seconds_left for r in open_rows)
    exported = list(queries.export_rows(engine, STREET, f, now, ZONE, limit=1000))
    assert [r.id for r in exported] == [r.id for r in shown]


def test_a_communitys_staff_see_only_their_community(engine, seeded, clock):
    now = clock()
    found = queries.queue(engine, WANGYUAN, queries.QueueFilter(), now, ZONE, page_size=50)
    assert {r.community for r in found.rows} == {"望园社区"}
    assert [c for c, _ in found.counts["community"]] == ["望园社区"]
    nothing = queries.queue(engine, WANGYUAN, queries.QueueFilter(community="万柳西园社区"), now, ZONE, page_size=50)
    assert nothing.total == 0 and not nothing.rows


def test_dates_are_local_days(engine, seeded, clock):
    now = clock()
    first = seeded[0].created_at.astimezone(ZONE).date()
    f = queries.QueueFilter(date_from=first, date_to=first)
    found = queries.queue(engine, STREET, f, now, ZONE, page_size=50)
    assert found.total == sum(1 for t in seeded if t.created_at.astimezone(ZONE).date() == first)
    later = queries.QueueFilter(date_from=first + timedelta(days=1))
    assert queries.queue(engine, STREET, later, now, ZONE, page_size=50).total == len(seeded) - found.total


def test_a_handler_sees_the_tickets_it_must_act_on_and_nobody_else_sees_anything(engine, seeded, clock):
    now = clock()
    company = Subject("handler", "wecom", "shouhua-duty", ("首华物业",))
    found = queries.queue(engine, company, queries.QueueFilter(), now, ZONE, page_size=50)
    assert found.total == sum(1 for t in seeded if t.handler_name == "首华物业") > 0
    assert {r.handler_name for r in found.rows} == {"首华物业"}
    assert company.sees("万柳西园社区", "首华物业") and not company.sees("万柳西园社区", "金管家物业")
    assert not company.serves("万柳西园社区")  # a handler never gets the resident's full phone number
    stranger = Subject("resident", "wechat", "x", ())
    assert queries.queue(engine, stranger, queries.QueueFilter(), now, ZONE, page_size=50).total == 0
