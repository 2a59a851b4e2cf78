"""The rules that read building, unit, room, phone and ticket id from free text."""
import pytest

from bot.nlu.address import bare_number, chinese_number, extract, normalize_phone, normalize_ticket_id

ALIASES = [("万柳西园社区", "万柳西园社区"), ("万柳西园", "万柳西园社区"), ("西园", "万柳西园社区"),
           ("望园东里", "望园社区"), ("望园", "望园社区")]


def values(text):
    return {(s.entity, s.value) for s in extract(text, ALIASES)}


@pytest.mark.parametrize("text, expected", [
    ("我家5号楼2单元502屋顶漏水", {("building", "5"), ("unit", "2"), ("room", "502")}),
    ("西园九号楼三单元301室", {("community", "万柳西园社区"), ("building", "9"), ("unit", "3"), ("room", "301")}),
    ("望园东里十二栋", {("community", "望园社区"), ("building", "12")}),
    ("5-2-502门口堆满了", {("building", "5"), ("unit", "2"), ("room", "502")}),
    ("电话138 1234 5678", {("phone", "13812345678")}),
    ("手机：139-1234-5678", {("phone", "13912345678")}),
    ("查下gd202611220007", {("ticket_id", "GD202611220007")}),
    ("５号楼", {("building", "5")}),
    ("我家502屋顶漏水", {("room", "502")}),
    ("家里1202室卫生间渗水", {("room", "1202")}),
    ("我家502号楼那边", {("building", "502")}),
    ("十二号楼三单元五零二", {("building", "12"), ("unit", "3"), ("room", "502")}),
    ("望园4门302 楼道灯坏了", {("community", "望园社区"), ("unit", "4"), ("room", "302")}),
    ("东门门口堆满了", set()),
    ("家里六〇一室", {("room", "601")}),
])
def test_extracts_normalised_values(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize("text", ["我住5楼", "2026年", "电话12345", "1381234567", "138123456789"])
def test_does_not_invent_entities(text):
    assert {e for e, _ in values(text)} <= set()


def test_numbers_written_in_chinese():
    assert [chinese_number(t) for t in ("五", "十", "十二", "二十", "二十三", "一百零一")] == [5, 10, 12, 20, 23, 101]


def test_bare_answers_to_form_questions():
    assert [bare_number(t) for t in ("6", "六号楼", "是6的", " 6号楼吧", "4门", "不知道", "")] == [
        "6", "6", "6", "6", "4", None, None]


def test_phone_and_ticket_validation():
    assert normalize_phone("13812345678") == "13812345678"
    assert normalize_phone("12345678901") is None
    assert normalize_ticket_id("GD2026112200") is None
