"""Follow-ups, deadline watch, supervision and the digest on a running scheduler (SQLite and
PostgreSQL), with a manual clock and a stand-in for Rasa's trigger_intent API."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config.directory import get_directory
from bot.core.clock import ManualClock
from bot.messaging.delivery import delivered
from bot.messaging.recipients import Recipient
from bot.tickets.errors import NotAllowed, TicketError, UnknownTicket
from bot.tickets.store import TicketStore
from bot.workflows import followups, notices, planning
from bot.workflows.followups import FollowUpOver
from tests.scheduling import FakeRasa, beijing, start_scheduler

MONDAY_10 = "2026-11-23 10:00"


@pytest.fixture
def rasa():
    fake = FakeRasa().start()
    yield fake
    fake.stop()


@pytest.fixture
def clock():
    return ManualClock(beijing(MONDAY_10))


@pytest.fixture
def work(engine, rasa, clock):
    scheduler = start_scheduler(engine, rasa.url, clock)
    scheduler.wait_idle()
    yield scheduler.context
    scheduler.stop()


@pytest.fixture
def store(work):
    return work.tickets


def advance(work, **delta):
    work.clock.advance(**delta)
    work.schedule.wait_idle()


def at(work, moment):
    work.clock.set(moment)
    work.schedule.wait_idle()


def report(store, **overrides):
    fields = {"category": "leak", "description": "屋顶漏水，下雨就滴", "reporter_channel": "rest",
              "reporter_id": "alice", "community": "万柳西园", "building": "5", **overrides}
    return store.create(**fields)


def resolve(work, ticket_id, note="已修好"):
    """What `linli tickets resolve` does: the change, then its jobs at once."""
    return planning.plan(work, work.tickets.transition(ticket_id, "resolved", "staff:wang", note))


def staff_notices(rasa):
    """Notices of the deadline watch, supervision and the digest; a dispatch nobody signed for also
    alerts the community (tests/test_handlers.py), which is not what these tests are about."""
    return [c for c in rasa.named("EXTERNAL_staff_notice") if c.entities.get("notice") not in ("sign_overdue", "no_contact")]


def actions(store, ticket_id):
    return [e.action for e in store.get(ticket_id).history]


def test_resolved_ticket_is_followed_up_a_day_later_and_closed_by_a_good_answer(work, store, rasa):
    ticket = report(store)
    followup = resolve(work, ticket.id)
    assert followup.due_at == beijing("2026-11-24 10:00")
    advance(work, hours=23, minutes=59)
    assert not rasa.named("EXTERNAL_followup")
    advance(work, minutes=1)
    [asked] = rasa.named("EXTERNAL_followup")
    assert (asked.conversation_id, asked.output_channel) == ("alice", "rest")
    assert asked.entities == {"ticket_id": ticket.id, "followup_round": "1"}

    assert followups.record_answer(store, ticket.id, "rest", "alice", "solved").next == "ask_satisfaction"
    answer = followups.record_answer(store, ticket.id, "rest", "alice", "satisfied")
    assert (answer.next, answer.ticket.status) == ("closed", "closed")
    assert actions(store, ticket.id)[-2:] == ["followup_asked", "closed"]
    assert store.get(ticket.id).history[-1].note == "第1次回访：已解决，满意"
    [done] = followups.followups(work.engine, ticket.id)
    assert (done.status, done.solved, done.satisfaction, done.outcome) == ("answered", "solved", "satisfied", "closed")
    advance(work, days=3)
    assert len(rasa.named("EXTERNAL_followup")) == 1, "no reminder after an answer"


def test_followups_never_go_out_in_quiet_hours(work, store, rasa):
    work.clock.set(beijing("2026-11-23 22:30"))
    ticket = report(store)
    followup = resolve(work, ticket.id)
    assert followup.due_at == beijing("2026-11-25 08:00"), "22:30 + 24 h is quiet: the next morning"
    advance(work, hours=33, minutes=29)  # 2026-11-25 07:59
    assert not rasa.named("EXTERNAL_followup")
    advance(work, minutes=1)
    assert len(rasa.named("EXTERNAL_followup")) == 1


def test_a_failed_followup_reopens_supervises_and_asks_again_after_the_next_resolution(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, hours=24)
    followups.record_answer(store, ticket.id, "rest", "alice", "unsolved")
    answer = followups.record_answer(store, ticket.id, "rest", "alice", "dissatisfied")
    assert (answer.next, answer.ticket.status) == ("reopened", "reopened")
    assert answer.ticket.deadline == work.clock() + timedelta(days=7), "the handler gets a fresh deadline"

    advance(work, minutes=1)  # the sweep notices the failed follow-up
    [notice] = staff_notices(rasa)
    assert (notice.conversation_id, notice.output_channel) == ("wanliuxiyuan-office", "wecom")
    assert notice.entities == {"notice": "supervision", "ticket_id": ticket.id, "followup_round": "1"}
    # the same minute's notice sweep tells the handler of the reopened ticket, in either order
    assert "回访没解决，不满意，已请万柳西园社区督办" in [step.note for step in store.get(ticket.id).history[-2:]]

    resolve(work, ticket.id, "重新做了防水")
    advance(work, hours=24)
    second = rasa.named("EXTERNAL_followup")[-1]
    assert second.entities == {"ticket_id": ticket.id, "followup_round": "2"}
    followups.record_answer(store, ticket.id, "rest", "alice", "partly")
    assert followups.record_answer(store, ticket.id, "rest", "alice", "basically").next == "reopened"
    advance(work, minutes=1)
    told = {c.conversation_id for c in staff_notices(rasa)[1:]}
    assert told == {"wanliuxiyuan-office", "wangyuan-street-duty"}, "the second failure reaches the street"
    again = store.get(ticket.id)
    assert again.tier == "street" and "escalated" in actions(store, ticket.id)
    assert [f.outcome for f in followups.followups(work.engine, ticket.id)] == ["reopened", "reopened"]


def test_no_answer_gets_one_reminder_then_closes_as_no_answer(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, hours=24)
    advance(work, hours=24)
    reminder = rasa.named("EXTERNAL_followup")[-1]
    assert reminder.entities == {"ticket_id": ticket.id, "followup_round": "1", "reminder": "yes"}
    advance(work, hours=24)
    assert len(rasa.named("EXTERNAL_followup")) == 2
    closed = store.get(ticket.id)
    assert closed.status == "closed" and closed.history[-1].action == "no_answer"
    assert followups.followups(work.engine, ticket.id)[0].status == "no_answer"
    with pytest.raises(FollowUpOver):
        followups.record_answer(store, ticket.id, "rest", "alice", "solved")


def test_answers_that_make_no_sense_change_nothing(work, store):
    ticket = report(store)
    resolve(work, ticket.id)
    before = store.get(ticket.id), followups.followups(work.engine, ticket.id)
    with pytest.raises(FollowUpOver):  # not asked yet
        followups.record_answer(store, ticket.id, "rest", "alice", "solved")
    advance(work, hours=24)
    asked = store.get(ticket.id), followups.followups(work.engine, ticket.id)
    with pytest.raises(NotAllowed):
        followups.record_answer(store, ticket.id, "rest", "mallory", "dissatisfied")
    with pytest.raises(UnknownTicket):
        followups.record_answer(store, "GD209901010001", "rest", "alice", "solved")
    with pytest.raises(TicketError) as error:
        followups.record_answer(store, ticket.id, "rest", "alice", "meh")
    assert "按钮" in error.value.user_message
    assert (store.get(ticket.id), followups.followups(work.engine, ticket.id)) == asked != before

    followups.record_answer(store, ticket.id, "rest", "alice", "solved")
    followups.record_answer(store, ticket.id, "rest", "alice", "satisfied")
    closed = store.get(ticket.id), followups.followups(work.engine, ticket.id)
    with pytest.raises(FollowUpOver) as error:
        followups.record_answer(store, ticket.id, "rest", "alice", "dissatisfied")
    assert "回访已经结束" in error.value.user_message
    assert (store.get(ticket.id), followups.followups(work.engine, ticket.id)) == closed


def test_satisfaction_before_solved_asks_the_first_question(work, store):
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, hours=24)
    assert followups.record_answer(store, ticket.id, "rest", "alice", "satisfied").next == "ask_solved"
    assert store.get(ticket.id).status == "resolved"


def test_unsolved_reopens_at_once_and_stays_reopened_when_satisfaction_is_never_answered(work, store, rasa):
    """"没解决" puts the handler back to work the moment it is said; a resident who then says
    nothing more never has their ticket closed as "no answer"."""
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, hours=24)
    answer = followups.record_answer(store, ticket.id, "rest", "alice", "unsolved")
    assert (answer.next, answer.ticket.status) == ("ask_satisfaction", "reopened")
    assert followups.awaiting_answer(store, "rest", "alice") == followups.Awaiting(ticket.id, "satisfaction")
    advance(work, days=4)  # well past the reminder and the give-up
    assert store.get(ticket.id).status == "reopened" and "no_answer" not in actions(store, ticket.id)
    assert followups.awaiting_answer(store, "rest", "alice") is None
    [round_] = followups.followups(work.engine, ticket.id)
    assert (round_.status, round_.solved, round_.satisfaction, round_.outcome) == ("answered", "unsolved", None, "reopened")


def test_the_satisfaction_after_unsolved_is_kept_once(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, hours=24)
    followups.record_answer(store, ticket.id, "rest", "alice", "partly")
    with pytest.raises(NotAllowed):
        followups.record_answer(store, ticket.id, "rest", "mallory", "satisfied")
    assert followups.record_answer(store, ticket.id, "rest", "alice", "basically").next == "reopened"
    with pytest.raises(FollowUpOver):
        followups.record_answer(store, ticket.id, "rest", "alice", "satisfied")
    [round_] = followups.followups(work.engine, ticket.id)
    assert (round_.solved, round_.satisfaction) == ("partly", "basically")
    assert store.get(ticket.id).history[-1].note == "第1次回访满意度：基本满意"


def test_comments_go_onto_the_followup_and_the_history(work, store):
    ticket = report(store)
    with pytest.raises(FollowUpOver):
        followups.add_comment(store, ticket.id, "rest", "alice", "还在漏")
    resolve(work, ticket.id)
    advance(work, hours=24)
    followups.record_answer(store, ticket.id, "rest", "alice", "unsolved")
    followups.record_answer(store, ticket.id, "rest", "alice", "dissatisfied")
    with pytest.raises(NotAllowed):
        followups.add_comment(store, ticket.id, "rest", "mallory", "瞎说")
    changed = followups.add_comment(store, ticket.id, "rest", "alice", "2单元502还在漏，电话13812345678", photo="AgAD1")
    assert changed.history[-1].note == "居民补充：2单元5**还在漏，电话138****5678；照片 AgAD1"
    assert "照片 AgAD1" in followups.followups(work.engine, ticket.id)[0].comment


def test_staff_reopening_before_the_followup_cancels_it(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    work.tickets.transition(ticket.id, "reopened", "staff:wang", "居民电话说还漏")
    advance(work, hours=25)
    assert not rasa.named("EXTERNAL_followup")
    assert followups.followups(work.engine, ticket.id)[0].status == "cancelled"


def test_deadline_watch_reminds_the_handler_then_escalates_with_a_whistle(work, store, rasa):
    ticket = report(store)  # ordinary: 7 days
    advance(work, minutes=1)  # the sweep plans the watch
    advance(work, hours=125)
    assert not staff_notices(rasa)
    advance(work, hours=1)  # 75 % of 168 h = 126 h
    [due] = staff_notices(rasa)
    assert (due.output_channel, due.conversation_id) == ("wecom", "shouhua-desk"), "首华物业's own desk (handlers file)"
    assert due.entities["notice"] == "due_soon"
    assert store.get(ticket.id).history[-1].note == "临近办理时限，已提醒首华物业"
    advance(work, hours=42)
    whistles = [c for c in staff_notices(rasa) if c.entities["notice"] == "whistle"]
    assert {c.conversation_id for c in whistles} == {"wangyuan-street-duty", "wanliuxiyuan-office", "shouhua-desk"}
    escalated = store.get(ticket.id)
    assert escalated.tier == "street"
    assert escalated.history[-1].note == "超过办理时限未办结，升级至难点街道办（吹哨）"
    advance(work, days=3)
    assert len(staff_notices(rasa)) == 4, "each step once"


def test_emergencies_are_watched_through_the_night_other_tickets_wait_for_morning(work, store, rasa):
    work.clock.set(beijing("2026-11-23 22:30"))
    emergency = report(store, category="elevator", description="电梯困人了", unit="1")
    ordinary = report(store, category="corridor_clutter", description="楼道堆满纸箱", unit="1")
    advance(work, minutes=1)
    advance(work, hours=1, minutes=29)  # 00:00: 75 % of 2 h
    assert [c.entities["ticket_id"] for c in staff_notices(rasa)] == [emergency.id]
    work.clock.set(beijing("2026-11-29 04:30"))  # the ordinary ticket's 75 %: quiet
    work.schedule.wait_idle()
    assert all(c.entities["ticket_id"] != ordinary.id for c in staff_notices(rasa))
    work.clock.set(beijing("2026-11-29 08:00"))
    work.schedule.wait_idle()
    assert staff_notices(rasa)[-1].entities == {"notice": "due_soon", "ticket_id": ordinary.id}


def test_a_ticket_first_seen_after_its_deadline_is_escalated_once(work, store, rasa):
    """Its jobs run the moment they are planned: they must find the watch they claim their steps on."""
    for _ in range(3):
        ticket = report(store, category="elevator", description="电梯困人了", unit="1")
        at(work, ticket.deadline + timedelta(days=1))
        assert actions(store, ticket.id).count("escalated") == 1
        assert store.get(ticket.id).tier == "street"
        whistles = [c for c in staff_notices(rasa)
                    if c.entities == {"notice": "whistle", "ticket_id": ticket.id}]
        assert len(whistles) == len({c.conversation_id for c in whistles}) > 0


def test_a_ticket_resolved_in_time_is_not_chased(work, store, rasa):
    ticket = report(store)
    advance(work, minutes=1)
    resolve(work, ticket.id)
    advance(work, days=8)
    assert not staff_notices(rasa)
    assert work.schedule.get(f"deadline:{ticket.id}:overdue") is None


def test_reopened_ticket_is_watched_against_its_new_deadline(work, store, rasa):
    ticket = report(store)
    advance(work, minutes=1)
    advance(work, days=2)
    work.tickets.transition(ticket.id, "resolved", "staff:wang")
    reopened = work.tickets.transition(ticket.id, "reopened", "staff:wang", "没修好")
    advance(work, minutes=1)
    advance(work, days=6)  # the old deadline passes: nothing, the new one is 7 days from the reopening
    assert not [c for c in staff_notices(rasa) if c.entities["notice"] == "whistle"]
    work.clock.set(reopened.deadline)
    work.schedule.wait_idle()
    assert [c.entities["notice"] for c in staff_notices(rasa)] == ["due_soon", "whistle", "whistle", "whistle"]


def test_daily_digest_to_staff(work, store, rasa):
    overdue = report(store, category="elevator", description="电梯困人了", unit="1")
    report(store)
    advance(work, minutes=1)
    advance(work, hours=2)  # the emergency's deadline: escalated
    advance(work, hours=20, minutes=29)  # 08:30 the next morning
    [digest] = [c for c in staff_notices(rasa) if c.entities["notice"] == "digest"]
    assert digest.conversation_id == "wangyuan-street-duty"
    response, params = notices.staff_notice(store, "digest", "Asia/Shanghai", as_of=digest.entities["as_of"])
    assert response == "utter_notice_digest"
    assert (params["new"], params["overdue"], params["escalated"], params["overdue_list"]) == (2, 1, 1, overdue.id)


def test_riders_hear_when_staff_approve_or_pause_them_and_the_digest_counts_who_waits(work, store, rasa):
    from bot.volunteers import records, signup

    signup.sign_up(work.engine, work.policy, store.directory, "linli_telegram", "77", name="小王",
                       phone="13912345678", platform="美团", areas=["望园社区"], times=["11:00"], consent=True,
                       now=work.clock())
    _, params = notices.staff_notice(store, "digest", "Asia/Shanghai")
    assert "待审核的骑手志愿者 1 人" in params["pending_volunteers"]
    records.approve(work.engine, work.policy, "linli_telegram:77", work.clock())
    advance(work, minutes=1)
    advance(work, minutes=1)
    [told] = rasa.named("EXTERNAL_volunteer_status")
    assert (told.output_channel, told.conversation_id, told.entities) == ("linli_telegram", "77",
                                                                          {"volunteer_status": "active"})
    records.pause(work.engine, "linli_telegram:77", work.clock())
    advance(work, minutes=1)
    assert [t.entities["volunteer_status"] for t in rasa.named("EXTERNAL_volunteer_status")] == ["active", "paused"]
    assert notices.staff_notice(store, "digest", "Asia/Shanghai")[1]["pending_volunteers"] == ""


def test_reporter_and_followers_hear_when_the_ticket_moves_once(work, store, rasa):
    ticket = report(store)
    store.follow(ticket.id, "linli_telegram", "42")
    store.transition(ticket.id, "in_progress", "staff:wang", "师傅下午上门")
    advance(work, minutes=1)
    advance(work, minutes=1)
    updates = rasa.named("EXTERNAL_ticket_update")
    assert sorted((u.output_channel, u.conversation_id) for u in updates) == [("linli_telegram", "42"), ("rest", "alice")]
    assert {tuple(sorted(u.entities.items())) for u in updates} == {
        (("ticket_id", ticket.id), ("update", "in_progress"), ("update_note", "师傅下午上门"))}


def test_residents_hear_an_escalation_or_a_reassignment_by_its_label_never_the_staff_note(work, store, rasa):
    from actions.status import status_text

    ticket = report(store)
    store.escalate(ticket.id, "staff:wang", "已联系城管，井盖归市政")
    shown = status_text(store.get(ticket.id))
    assert "最新" in shown and "已升级督办" in shown and "城管" not in shown and "吹哨" not in shown
    advance(work, minutes=1)
    [update] = rasa.named("EXTERNAL_ticket_update")
    assert update.entities["update"] == "escalated" and "update_note" not in update.entities


def test_progress_news_waits_for_the_morning_and_hides_numbers(work, store, rasa):
    work.clock.set(beijing("2026-11-23 23:00"))
    ticket = report(store)
    store.transition(ticket.id, "resolved", "staff:wang", "已修好，有问题打13812345678")
    advance(work, minutes=5)
    assert rasa.named("EXTERNAL_ticket_update") == []
    at(work, beijing("2026-11-24 08:00"))
    [update] = rasa.named("EXTERNAL_ticket_update")
    assert update.entities["update"] == "resolved" and "138****5678" in update.entities["update_note"]


def test_old_steps_are_not_announced(work, store, rasa):
    ticket = report(store)
    store.transition(ticket.id, "in_progress", "staff:wang")
    advance(work, hours=25)
    assert rasa.named("EXTERNAL_ticket_update") == []


def test_staff_notice_wording_comes_from_the_ticket(work, store):
    ticket = report(store)
    response, params = notices.staff_notice(store, "due_soon", "Asia/Shanghai", ticket.id,
                                              as_of=(ticket.deadline - timedelta(hours=42)).isoformat())
    assert response == "utter_notice_due_soon"
    assert (params["place"], params["handler"], params["left"], params["deadline"]) == (
        "万柳西园社区5号楼", "首华物业", "42小时", "11月30日10:00")
    with pytest.raises(UnknownTicket):
        notices.staff_notice(store, "whistle", "Asia/Shanghai", "GD209901010001")


def test_failed_deliveries_are_retried_and_sent_once(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    advance(work, minutes=1)  # the progress notice goes out first
    rasa.fail = 2
    advance(work, hours=24)
    assert not rasa.named("EXTERNAL_followup") and followups.followups(work.engine, ticket.id)[0].status == "scheduled"
    advance(work, seconds=30)
    advance(work, seconds=120)
    assert len(rasa.named("EXTERNAL_followup")) == 1
    [record] = delivered(work.engine, f"followup:{ticket.id}")
    assert (record.status, record.attempts, record.messages) == ("sent", 3, [{"text": "EXTERNAL_followup"}])
    assert followups.followups(work.engine, ticket.id)[0].status == "asked"


def test_conversation_ids_reach_rasa_as_written(work, rasa):
    """A group robot's or a group member's id has a ":" that Rasa's route would not decode."""
    for conversation in ("robot:xiyuan", "-1001234:5678", "user@corp"):
        work.delivery.send(f"test:{conversation}", Recipient("wecom", conversation), "EXTERNAL_staff_notice")
    assert [c.conversation_id for c in rasa.calls] == ["robot:xiyuan", "-1001234:5678", "user@corp"]


def test_a_job_run_twice_delivers_once(work, store, rasa):
    ticket = report(store)
    resolve(work, ticket.id)
    work.clock.advance(hours=24)
    followups.ask(work, ticket.id, 1)
    followups.ask(work, ticket.id, 1)
    work.schedule.wait_idle()
    assert len(rasa.named("EXTERNAL_followup")) == 1
    assert actions(store, ticket.id).count("followup_asked") == 1


def test_sweep_plans_tickets_nobody_planned(work, store, clock):
    """Tickets written by the action server (no jobs) are found by the sweep."""
    other = TicketStore(engine=work.engine, clock=clock)
    created = report(other)
    resolved = report(other, building="6")
    other.transition(resolved.id, "resolved", "staff:wang")
    counts = planning.sweep(work)
    assert (counts["watched"], counts["followups"]) == (1, 1)
    assert work.schedule.get(f"deadline:{created.id}:overdue") is not None
    assert work.schedule.get(f"followup:{resolved.id}:1:ask") is not None
    assert planning.sweep(work)["watched"] == planning.sweep(work)["followups"] == 0


def test_three_rates_with_the_counts_behind_them(work, store):
    from bot.reports.rates import compute

    start = work.clock()
    on_time = report(store, reporter_id="a")
    late = report(store, reporter_id="b", building="6")
    silent = report(store, reporter_id="c", community="望园", building="2")
    unanswered = report(store, reporter_id="e", building="7")
    store.transition(on_time.id, "in_progress", "staff:wang")
    store.add_note(late.id, "rest:b", "居民反馈：还没人来")  # the resident's own words are no response
    advance(work, hours=1)
    resolve(work, on_time.id)
    advance(work, hours=1)
    store.add_note(unanswered.id, "staff:wang", "已电话联系居民")
    resolve(work, unanswered.id)
    advance(work, hours=23)  # on_time's follow-up: solved, satisfied
    followups.record_answer(store, on_time.id, "rest", "a", "solved")
    followups.record_answer(store, on_time.id, "rest", "a", "satisfied")
    advance(work, hours=5)  # 30 h: late's first response
    resolve(work, late.id)
    advance(work, hours=24)
    followups.record_answer(store, late.id, "rest", "b", "partly")
    followups.record_answer(store, late.id, "rest", "b", "basically")
    advance(work, hours=16)  # 70 h
    pending = report(store, reporter_id="d", building="3")
    advance(work, hours=10)  # 80 h: unanswered has had its reminder and is "no answer"

    end = work.clock() + timedelta(minutes=1)
    rates = compute(work.engine, work.policy.response_hours, start, end, work.clock())
    assert rates.response.counts == {"in_time": 2, "late": 1, "none": 1, "pending": 1}
    assert (rates.response.numerator, rates.response.denominator) == (2, 4)
    assert (rates.resolution.numerator, rates.resolution.denominator, rates.resolution.value) == (1, 2, 0.5)
    assert rates.resolution.counts == {"solved": 1, "partly": 1, "unsolved": 0}
    assert (rates.satisfaction.numerator, rates.satisfaction.denominator) == (2, 2)
    assert rates.followups == {"answered": 2, "no_answer": 1, "awaiting_answer": 0}
    assert rates.as_dict()["response_rate"]["rate"] == 0.5

    wangyuan = compute(work.engine, work.policy.response_hours, start, end, work.clock(), "望园社区")
    assert (wangyuan.response.counts["none"], wangyuan.response.denominator, wangyuan.resolution.value) == (1, 1, None)
    assert silent.id and pending.id


@pytest.mark.parametrize("text, intent, question, expected", [
    ("没解决，昨天下雨又滴了", "feedback_negative", "solved", ("unsolved",)),
    ("修好了，挺满意", "feedback_positive", "solved", ("solved", "satisfied")),
    ("部分解决了 还有点渗", "feedback_negative", "solved", ("partly",)),
    ("好了又坏了", "feedback_negative", "solved", ("unsolved",)),
    ("没有", "deny", "solved", ("unsolved",)),
    ("嗯", "affirm", "solved", ("solved",)),
    ("一般吧", "nlu_fallback", "satisfaction", ("basically",)),
    ("不满意，太慢了", "feedback_negative", "satisfaction", ("dissatisfied",)),
    ("没解决", "feedback_negative", "satisfaction", ("dissatisfied",)),
    ("今天天气不错", "nlu_fallback", "solved", ()),
])
def test_typed_followup_answers(text, intent, question, expected):
    words = get_directory().service.typed_answers
    assert followups.typed_answers(text, intent, question, words) == expected


def test_a_bare_answer_is_no_comment():
    service = get_directory().service
    assert followups.is_bare_answer("解决了！", service.typed_answers, service.answer_labels)
    assert followups.is_bare_answer("满意", service.typed_answers, service.answer_labels)
    assert followups.is_bare_answer("没有", service.typed_answers, service.answer_labels)
    assert not followups.is_bare_answer("没解决，昨天下雨又滴了", service.typed_answers, service.answer_labels)
