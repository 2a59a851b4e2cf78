"""A button's title typed instead of tapped is the tap, on every channel (bot/channels/choices.py)."""
from __future__ import annotations

import pytest

from bot.channels.choices import chosen

PAIRS = [["停水停电", "/choose_notice_topics{\"notice_topic\":\"outages\"}"], ["安全", "/t{\"x\":\"safety\"}"],
         ["不是，单独登记", "/deny"], ["确认发送", "/affirm"], ["报告隐患", "/report_issue"]]


@pytest.mark.parametrize("typed, payload", [
    ("停水停电", PAIRS[0][1]), ("只要停水停电的", PAIRS[0][1]), ("安全吧", PAIRS[1][1]),
    ("不是，单独登记", "/deny"), ("不是 单独登记", "/deny"), ("确认发送！", "/affirm"), ("报告隐患", "/report_issue"),
])
def test_a_title_give_or_take_filler_and_punctuation_is_its_button(typed, payload):
    assert chosen(PAIRS, typed) == payload


@pytest.mark.parametrize("typed", ["5号楼停水停电了", "安全通道被堵了", "确认", "2", "", "   "])
def test_other_words_are_words(typed):
    assert chosen(PAIRS, typed) is None


def test_numbers_answer_only_where_buttons_are_numbered():
    assert chosen(PAIRS, "2", numbers=True) == PAIRS[1][1] and chosen(PAIRS, "9", numbers=True) is None
