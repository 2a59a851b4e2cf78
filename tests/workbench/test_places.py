"""The ticket page's small map: buildings with coordinates in the directory, the point among them."""
from __future__ import annotations

from bot.workbench import places


def test_the_point_is_drawn_among_the_buildings_north_up():
    buildings = {"1": (39.8800, 116.3100), "2": (39.8810, 116.3100), "3": (39.8800, 116.3120)}
    sketch = places.sketch(39.8805, 116.3110, buildings)
    drawn = {b: (x, y) for b, x, y in sketch["buildings"]}
    assert drawn["2"][1] < drawn["1"][1]  # north is up
    assert drawn["3"][0] > drawn["1"][0]  # east is right
    x, y = sketch["ticket"]
    assert drawn["1"][0] < x < drawn["3"][0] and drawn["2"][1] < y < drawn["1"][1]
    assert all(0 <= px <= sketch["width"] and 0 <= py <= sketch["height"] for _, px, py in sketch["buildings"])
    assert 150 < sketch["span_metres"] < 250


def test_buildings_without_coordinates_give_no_points(tmp_path, monkeypatch):
    directory = tmp_path / "directory.yml"
    directory.write_text("communities:\n- name: 望园社区\n  buildings:\n  - {ids: '1-5', latitude: 39.88, longitude: 116.31}\n"
                         "  - {id: '6'}\n", encoding="utf-8")
    monkeypatch.setenv("LINLI_DIRECTORY", str(directory))
    assert places.building_points("望园社区") == {"1": (39.88, 116.31)}
    assert places.building_points("万柳西园社区") == {}
