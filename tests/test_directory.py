"""The bundled directory and the dispatch rules read from service.yml (no database needed)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config.directory import Directory, get_directory
from bot.core.settings import PACKAGE_DATA
from bot.tickets.dispatch import dispatch

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
CATEGORIES = ("leak corridor_clutter noise waterlogging illegal_building elevator sanitation heating_gas "
              "ev_charging public_facility fire_safety property_service neighbor_dispute other utility_outage rider_concern").split()


@pytest.fixture(scope="module")
def directory():
    return Directory.load(PACKAGE_DATA / "directory.yml", PACKAGE_DATA / "service.yml")


def test_the_sample_street(directory):
    assert directory.street == "望园街道" and directory.street_office_phone and directory.street_office_hours
    assert [c.name for c in directory.communities] == ["万柳西园社区", "望园社区"]
    xiyuan, wangyuan = directory.communities
    assert set(xiyuan.aliases) >= {"万柳西园", "西园", "万柳西园小区"}
    assert set(wangyuan.aliases) >= {"望园", "望园小区", "望园东里"}
    assert all(c.office_phone and c.office_hours and c.grid_workers for c in directory.communities)
    assert [b.id for b in directory.buildings_of("万柳西园社区")] == [str(i) for i in range(1, 13)]
    assert [b.id for b in directory.buildings_of("望园")] == [str(i) for i in range(1, 9)]


@pytest.mark.parametrize("community, building, company, owner", [
    ("万柳西园社区", "1", "首华物业", None), ("万柳西园社区", "6", "首华物业", None),
    ("万柳西园社区", "10", "首华物业", None), ("万柳西园社区", "12", "首华物业", None),
    ("万柳西园社区", "7", None, "北京市电车公司"), ("万柳西园社区", "8", None, "北京市电车公司"),
    ("万柳西园社区", "9", None, None),
    ("望园社区", "5", "金管家物业", None), ("望园社区", "6", None, None), ("望园社区", "8", None, None),
])
def test_buildings_and_who_manages_them(directory, community, building, company, owner):
    found = directory.building(community, building)
    assert (found.property_company, found.owner_unit, found.unmanaged) == (company, owner, company is None)


def test_property_companies_have_the_three_hotlines(directory):
    for name in ("首华物业", "金管家物业"):
        company = directory.property_company(name)
        assert [h.kind for h in company.hotlines] == ["customer_service", "control_room", "engineering"]
        assert all(h.number and h.hours for h in company.hotlines)
        assert "中控室" in company.hotline_text()
    assert directory.property_company("不存在物业") is None


def test_street_departments(directory):
    assert "illegal_building" in directory.departments["enforcement"].categories
    assert directory.departments["enforcement"].name == "街道综合执法队"
    assert {"public_facility", "waterlogging"} <= set(directory.departments["municipal"].categories)
    assert "rider_concern" in directory.departments["new_employment"].categories


@pytest.mark.parametrize("text, expected", [
    ("万柳西园社区", "万柳西园社区"), ("西园", "万柳西园社区"), ("万柳西园小区5号楼", "万柳西园社区"),
    ("我住望园东里", "望园社区"), ("望园", "望园社区"), ("望园街道", None), ("望园街道西园", "万柳西园社区"),
    ("海淀区", None), ("", None), (None, None),
])
def test_find_community(directory, text, expected):
    found = directory.find_community(text)
    assert (found.name if found else None) == expected


def test_unknown_places(directory):
    assert directory.building("万柳西园社区", "13") is None
    assert directory.building("海淀区", "1") is None
    assert directory.building("望园社区", None) is None
    assert directory.buildings_of("海淀区") == []


@pytest.mark.parametrize("category, community, building, kind, name, tier", [
    ("leak", "万柳西园社区", "5", "property_company", "首华物业", "community"),
    ("leak", "万柳西园社区", "9", "community", "万柳西园社区", "community"),
    ("leak", "万柳西园社区", "7", "owner_unit", "北京市电车公司", "community"),
    ("elevator", "望园社区", "3", "property_company", "金管家物业", "community"),
    ("corridor_clutter", "望园社区", "7", "community", "望园社区", "group"),
    ("corridor_clutter", "望园社区", None, "community", "望园社区", "group"),
    ("illegal_building", "万柳西园社区", "5", "department", "街道综合执法队", "street"),
    ("property_service", "万柳西园社区", "5", "community", "万柳西园社区", "community"),
    ("neighbor_dispute", "望园", "2", "community", "望园社区", "community"),
    ("leak", None, None, "department", "街道接诉即办中心", "community"),
])
def test_dispatch_table(directory, category, community, building, kind, name, tier):
    routed = dispatch(directory, category, community, building, now=NOW)
    assert (routed.handler_kind, routed.handler_name, routed.tier) == (kind, name, tier)
    assert routed.handler_phones and all(routed.handler_phones)


def test_a_managed_building_gives_the_property_hotlines(directory):
    routed = dispatch(directory, "leak", "万柳西园社区", "5", now=NOW)
    assert routed.handler_phones == tuple(h.number for h in directory.property_company("首华物业").hotlines)
    assert dispatch(directory, "leak", "万柳西园社区", "9", now=NOW).handler_phones == (
        directory.communities[0].office_phone,)


@pytest.mark.parametrize("category, description, deadline_class, hours", [
    ("leak", "卫生间漏水", "ordinary", 168), ("elevator", "电梯停了", "utilities", 24),
    ("heating_gas", "暖气不热", "utilities", 24), ("illegal_building", "楼顶加盖", "complex", 360),
    ("heating_gas", "楼道里一股煤气味", "emergency", 2), ("elevator", "电梯困人了", "emergency", 2),
    ("ev_charging", "飞线充电的电动车着火了", "emergency", 2), ("fire_safety", "配电箱漏电", "emergency", 2),
    ("other", "燃气泄漏", "emergency", 2), ("leak", "我家水管爆了，水哗哗往外流", "emergency", 2),
    ("leak", "楼上跑大水 往我家灌", "emergency", 2), ("public_facility", "楼门口井盖没了", "emergency", 2),
    ("utility_outage", "5号楼2单元停电了", "utilities", 24), ("leak", "卫生间墙角有点渗水", "ordinary", 168),
    ("noise", "楼下哗哗的流水声吵得睡不着", "ordinary", 168), ("elevator", "电梯门关着打不开", "utilities", 24),
])
def test_deadlines_by_category_and_urgent_words(directory, category, description, deadline_class, hours):
    routed = dispatch(directory, category, "万柳西园社区", "5", description, now=NOW)
    assert (routed.deadline_class, routed.deadline_hours) == (deadline_class, hours)
    assert routed.deadline == NOW + timedelta(hours=hours)


def test_every_category_is_configured(directory):
    assert set(directory.service.categories) == set(CATEGORIES)
    for category in directory.service.categories.values():
        assert category.label and category.tier in directory.service.tiers
        assert category.location or category.route.startswith("department:"), "a building's problem needs its place"
    with pytest.raises(ValueError):
        dispatch(directory, "weather", "万柳西园社区", "5")


def test_service_limits(directory):
    service = directory.service
    assert service.description_max_chars == 2000
    assert list(service.tiers) == ["group", "community", "street"]


@pytest.mark.parametrize("local, expected", [
    ("2026-11-23 10:00", "2026-11-23 12:00"),   # working hours: two hours later
    ("2026-11-23 16:45", "2026-11-24 09:45"),   # 45 minutes today, the rest tomorrow morning
    ("2026-11-23 17:30", "2026-11-24 10:30"),   # at closing time
    ("2026-11-23 20:00", "2026-11-24 10:30"),   # evening: next morning
    ("2026-11-23 06:00", "2026-11-23 10:30"),   # early morning: the same morning
    ("2026-11-22 11:00", "2026-11-22 13:00"),   # Sunday: the desk works every day
])
def test_callback_expectation(directory, local, expected):
    now = datetime.fromisoformat(local).replace(tzinfo=BEIJING)
    due = directory.service.callback.expected_by(now.astimezone(timezone.utc), BEIJING)
    assert due.tzinfo is not None and due.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") == expected


# -- configuration mistakes stop the process at load ----------------------------------------------

def _raw(name):
    return yaml.safe_load((PACKAGE_DATA / name).read_text(encoding="utf-8"))


def _load(tmp_path, directory=None, service=None):
    for name, raw in (("directory.yml", directory or _raw("directory.yml")), ("service.yml", service or _raw("service.yml"))):
        (tmp_path / name).write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return Directory.load(tmp_path / "directory.yml", tmp_path / "service.yml")


def test_weekday_callbacks_skip_the_weekend(tmp_path):
    service = _raw("service.yml")
    service["callback"]["working_days"] = [1, 2, 3, 4, 5]
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=BEIJING)
    due = _load(tmp_path, service=service).service.callback.expected_by(friday_evening, BEIJING)
    assert due.astimezone(BEIJING) == datetime(2026, 11, 30, 10, 30, tzinfo=BEIJING)


def _unknown_company(raw):
    raw["communities"][0]["buildings"][0]["property_company"] = "不存在物业"


def _twice(raw):
    raw["communities"][1]["buildings"].append({"id": "3"})


def _no_communities(raw):
    raw["communities"] = []


def _unknown_department(raw):
    raw["categories"]["noise"]["route"] = "department:police"


def _unknown_class(raw):
    raw["categories"]["noise"]["deadline_class"] = "someday"


def _unknown_tier(raw):
    raw["categories"]["noise"]["tier"] = "city"


def _bad_route(raw):
    raw["categories"]["noise"]["route"] = "anyone"


def _bad_hours(raw):
    raw["callback"]["working_hours"] = ["17:30", "08:30"]


def _missing(raw):
    del raw["description_max_chars"]


@pytest.mark.parametrize("breaks, file", [
    (_unknown_company, "directory"), (_twice, "directory"), (_no_communities, "directory"),
    (_unknown_department, "service"), (_unknown_class, "service"), (_unknown_tier, "service"),
    (_bad_route, "service"), (_bad_hours, "service"), (_missing, "service"),
])
def test_configuration_mistakes_fail_at_load(tmp_path, breaks, file):
    raw = _raw(f"{file}.yml")
    breaks(raw)
    with pytest.raises(ValueError):
        _load(tmp_path, **{file: raw})


def test_get_directory_follows_settings_and_reloads(tmp_path, monkeypatch):
    raw = _raw("directory.yml")
    raw["street"]["name"] = "测试街道"
    (tmp_path / "directory.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    bundled = get_directory()
    assert get_directory() is bundled
    monkeypatch.setenv("LINLI_DIRECTORY", str(tmp_path / "directory.yml"))
    custom = get_directory()
    assert custom.street == "测试街道" and get_directory() is custom
    raw["street"]["name"] = "改名街道"
    (tmp_path / "directory.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert get_directory().street == "测试街道"
    assert get_directory(reload=True).street == "改名街道"


def test_grid_workers_by_building(directory):
    assert [w["name"] for w in directory.grid_workers_for("万柳西园社区", "9")] == ["刘芳"]
    assert [w["name"] for w in directory.grid_workers_for("万柳西园", "3")] == ["王磊"]
    assert [w["name"] for w in directory.grid_workers_for("万柳西园社区")] == ["王磊", "刘芳"]
    assert directory.grid_workers_for("万柳西园社区", "13") == []
    assert directory.grid_workers_for("槐荫里", "1") == []


def test_a_property_company_named_by_its_short_name(directory):
    assert directory.company_named_in("首华物业电话多少").name == "首华物业"
    assert directory.company_named_in("金管家的中控室电话").name == "金管家物业"
    assert directory.company_named_in("物业电话多少") is None


def test_a_map_location_names_the_community_whose_area_holds_it():
    directory = get_directory()
    assert directory.community_at(39.8791, 116.3366).name == "望园社区"
    assert directory.community_at(39.8727, 116.3268).name == "万柳西园社区"
    assert directory.community_at(39.9990, 116.4000) is None, "far outside every area"
