"""Misunderstood messages (captured masked, labelled, exported under nlu/ only and never as a
held-out example) and the sign-in links /登录 will hand out — on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from bot.config.directory import get_directory
from bot.people import roster
from bot.workbench import auth, misunderstood
from bot.workbench.models import init_tables

INTENTS, TOPICS = misunderstood.domain_intents(), misunderstood.faq_topics()


@pytest.fixture
def tables(engine):
    init_tables(engine)
    return engine


def label(engine, message_id, intent, category=None, clock=None):
    misunderstood.label(engine, message_id, intent, category, "staff:wecom:x", clock(), get_directory().service.categories,
                        INTENTS, TOPICS)


def test_messages_are_kept_masked_labelled_and_exported_as_training_data(tables, clock, tmp_path):
    root = tmp_path / "project"
    (root / "nlu").mkdir(parents=True)
    (root / "tests" / "data").mkdir(parents=True)
    (root / "tests" / "data" / "heldout.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 小邻在不在呀\n', encoding="utf-8")
    (root / "tests" / "data" / "heldout_list.yml").write_text(
        '- {text: "物业电话多少来着 我是13912345678", intent: ask_property_hotline}\n', encoding="utf-8")
    leak = misunderstood.record_misunderstood("wechat", "oAlice0000001", "房顶那块儿老往下掉渣 电话13812345678 502室",
                                              "nlu_fallback", None, 0.3, engine=tables, now=clock())
    greet = misunderstood.record_misunderstood("wechat", "oBob", "小邻在不在呀", "nlu_fallback", None, 0.2, engine=tables,
                                               now=clock())
    hotline = misunderstood.record_misunderstood("rest", "x", "物业电话多少来着", "ask_property_hotline", None, 0.4,
                                                 engine=tables, now=clock())
    masked_heldout = misunderstood.record_misunderstood("rest", "y", "物业电话多少来着 我是13912345678", None, None,
                                                        None, engine=tables, now=clock())
    assert misunderstood.record_misunderstood("rest", "x", "/工单", None, None, None, engine=tables) is None
    [row] = [m for m in misunderstood.listing(tables) if m.id == leak]
    assert "13812345678" not in row.text and "138****5678" in row.text and row.sender == "oA****01"

    with pytest.raises(misunderstood.LabelError, match="报事报修要选一个问题类别"):
        label(tables, leak, "report_issue", clock=clock)
    with pytest.raises(misunderstood.LabelError, match="请选一个意图"):
        label(tables, leak, "EXTERNAL_followup", clock=clock)
    label(tables, leak, "report_issue", "leak", clock=clock)
    label(tables, greet, "greet", clock=clock)
    label(tables, hotline, "ask_property_hotline", clock=clock)
    label(tables, masked_heldout, "ask_property_hotline", clock=clock)

    path, written, heldout = misunderstood.export(tables, root / "nlu" / "workbench_labelled.yml", root=root, now=clock())
    assert (written, heldout) == (2, 2)  # held-out sentences stay out of training, masked or not
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    blocks = {(b["intent"], (b.get("metadata") or {}).get("category")): b["examples"] for b in data["nlu"]}
    assert set(blocks) == {("report_issue", "leak"), ("ask_property_hotline", None)}
    assert "138****5678" in blocks[("report_issue", "leak")]
    assert misunderstood.counts(tables) == {"exported": 2, "labelled": 2}

    for outside in (root / "tests" / "data" / "more.yml", root / "elsewhere.yml", root / "nlu" / "x.txt"):
        with pytest.raises(misunderstood.LabelError, match="训练数据只能写到"):
            misunderstood.export(tables, outside, root=root)


def test_a_sign_in_link_is_for_staff_only_and_names_the_public_address(tables, clock, monkeypatch, tmp_path):
    roster.sync_staff(tables)
    monkeypatch.setenv("LINLI_CONSOLE_URL", "https://linli.example.org/")
    url = auth.issue_link("wecom", "wangyuan-office", tables, clock())
    assert url.startswith("https://linli.example.org/login?t=")
    token = url.split("t=", 1)[1]
    assert auth.peek_link(tables, token, clock()) == "valid"
    assert auth.peek_link(tables, token, clock() + timedelta(minutes=11)) == "used_or_expired"
    session_token, subject = auth.redeem(tables, token, clock(), "127.0.0.1")
    assert (subject.role, subject.scope, subject.actor) == ("staff", ("望园社区",), "staff:wecom:wangyuan-office")
    assert auth.current(tables, session_token, clock()).csrf == subject.csrf
    with pytest.raises(auth.SignInError):
        auth.redeem(tables, token, clock(), "127.0.0.1")
    with pytest.raises(auth.SignInError, match="不在工作人员名单里"):
        auth.issue_link("wechat", "oResident", tables, clock())
    with pytest.raises(auth.SignInError, match="名单里没有"):
        auth.find_staff("nobody", tables)
    assert auth.find_staff("望园社区办公室", tables).id == "wangyuan-office"


def test_a_message_is_kept_once_even_when_two_processes_race(tables, clock, monkeypatch):
    first = misunderstood.record_misunderstood("wechat", "oEve", "那个啥来着", "nlu_fallback", None, 0.5, engine=tables,
                                               now=clock(), message_id="msg-1")
    again = misunderstood.record_misunderstood("wechat", "oEve", "那个啥来着", "nlu_fallback", None, 0.5, engine=tables,
                                               now=clock(), reason="corrected", message_id="msg-1")
    looked = []
    real = misunderstood._recorded

    def missed_then_found(engine, message_id):  # the other process inserts between our look and our insert
        looked.append(message_id)
        return None if len(looked) == 1 else real(engine, message_id)

    monkeypatch.setattr(misunderstood, "_recorded", missed_then_found)
    raced = misunderstood.record_misunderstood("wechat", "oEve", "那个啥来着", None, None, None, engine=tables,
                                               now=clock(), message_id="msg-1")
    assert first == again == raced and looked == ["msg-1", "msg-1"]
    [row] = misunderstood.listing(tables)
    assert (row.reason, row.message_id) == ("fallback", "msg-1")
    assert misunderstood.record_misunderstood("wechat", "oEve", "那个啥来着", None, None, None, engine=tables,
                                              reason="whatever") is None
