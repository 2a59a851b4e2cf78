"""The configuration files as the product reads them: one strict reader (a repeated key or bad YAML
stops the load naming the file, the line and the key), one reload for every cached file, and the
``LINLI_*`` overrides of where the files are."""
from __future__ import annotations

import shutil

import pytest

from bot.config.broadcasts import get_config
from bot.config.directory import get_directory
from bot.config.files import ConfigError, read_yaml
from bot.config.policy import get_policy
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT


@pytest.fixture(autouse=True)
def fresh_files():
    get_directory(reload=True)
    yield
    get_directory(reload=True)


@pytest.mark.parametrize("path", sorted([*PACKAGE_DATA.glob("*.yml"), *(PROJECT_ROOT / "bot" / "workbench").glob("*.yml")]),
                         ids=lambda p: p.name)
def test_every_shipped_file_reads_without_a_repeated_key(path):
    assert read_yaml(path) is not None


def test_a_repeated_key_names_the_file_the_line_and_the_key(tmp_path):
    path = tmp_path / "directory.yml"
    path.write_text("street:\n  name: 望园街道\ncommunities: []\nstreet:\n  name: 别的街道\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_yaml(path)
    assert str(raised.value) == (f"{path}, line 4: the key 'street' is there already (line 1); "
                                 "the first would be ignored")


def test_a_repeated_key_deeper_down_is_found_too(tmp_path):
    path = tmp_path / "service.yml"
    path.write_text("followup:\n  delay_hours: 24\n  delay_hours: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3: the key 'delay_hours' is there already \(line 2\)"):
        read_yaml(path)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "broadcasts.yml"
    path.write_text("topics: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{path}: not valid YAML"):
        read_yaml(path)


def test_one_reload_reads_every_file_again(tmp_path, monkeypatch):
    service, broadcasts = tmp_path / "service.yml", tmp_path / "broadcasts.yml"
    shutil.copy(PACKAGE_DATA / "service.yml", service)
    shutil.copy(PACKAGE_DATA / "broadcasts.yml", broadcasts)
    monkeypatch.setenv("LINLI_SERVICE_CONFIG", str(service))
    monkeypatch.setenv("LINLI_BROADCASTS", str(broadcasts))
    assert get_policy().quiet_start.isoformat() == "22:00:00" and get_config().text_max_chars == 1000

    service.write_text(service.read_text(encoding="utf-8").replace('quiet_hours: ["22:00", "08:00"]',
                                                                   'quiet_hours: ["21:00", "08:00"]'), encoding="utf-8")
    broadcasts.write_text(broadcasts.read_text(encoding="utf-8").replace("text_max_chars: 1000", "text_max_chars: 500"),
                          encoding="utf-8")
    assert get_policy().quiet_start.isoformat() == "22:00:00", "read once, until reloaded"

    get_directory(reload=True)
    assert get_policy().quiet_start.isoformat() == "21:00:00" and get_config().text_max_chars == 500


@pytest.fixture
def broadcasts_copy(tmp_path, monkeypatch):
    path = tmp_path / "broadcasts.yml"
    shutil.copy(PACKAGE_DATA / "broadcasts.yml", path)
    monkeypatch.setenv("LINLI_BROADCASTS", str(path))
    return path


def line_of(path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(text))


def test_a_bad_value_names_the_file_the_line_and_the_key(broadcasts_copy):
    broadcasts_copy.write_text(broadcasts_copy.read_text(encoding="utf-8").replace(
        "wecom:          {label: 企业微信, class: bot.channels.wecom.WeComInput, images: false, concurrency: 4}",
        "wecom:          {label: 企业微信, class: bot.channels.wecom.WeComInput, images: false, concurrency: 0}"),
        encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        get_config()
    assert str(raised.value) == (f"{broadcasts_copy}, line {line_of(broadcasts_copy, '  wecom:')}: "
                                 "channels.wecom.concurrency: ensure this value is greater than 0")


def test_a_misspelt_key_is_refused_rather_than_ignored(broadcasts_copy):
    broadcasts_copy.write_text(broadcasts_copy.read_text(encoding="utf-8").replace("text_max_chars: 1000",
                                                                                   "text_max_char: 1000"),
                               encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        get_config()
    line = line_of(broadcasts_copy, "text_max_char:")
    assert str(raised.value).splitlines() == [f"{broadcasts_copy}, line 1: text_max_chars: field required",
                                              f"{broadcasts_copy}, line {line}: text_max_char: extra fields not permitted"]


def test_a_missing_key_is_named(broadcasts_copy):
    text = broadcasts_copy.read_text(encoding="utf-8")
    broadcasts_copy.write_text(text.replace("connect_retries: 5\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r", line 1: connect_retries: field required$"):
        get_config()
