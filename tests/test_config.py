"""The configuration files as the product reads them: one strict reader (a repeated key or bad YAML
stops the load naming the file, the line and the key), one reload for every cached file, and the
``LINLI_*`` overrides of where the files are."""
from __future__ import annotations

import re
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


def _linli_names_read() -> tuple[set[str], list[str]]:
    """Every ``LINLI_*`` name the code in bot/ and actions/ reads, as written there: the first
    argument of ``env("NAME")`` (bot.core.settings.env adds the prefix) and whole ``"LINLI_NAME"``
    literals (``os.environ.get("LINLI_STAFF")``); and the places that build a name at run time,
    which no table could be checked against."""
    import ast

    names, built = set(), []
    for path in [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "actions").rglob("*.py")]:
        where = path.relative_to(PROJECT_ROOT)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "env" \
                    and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(f"LINLI_{first.value}")
                else:
                    built.append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"LINLI_[A-Z0-9_]+", node.value):
                names.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) and \
                    str(node.values[0].value).startswith("LINLI_") and where.as_posix() != "bot/core/settings.py":
                built.append(f"{where}:{node.lineno}")
    return names, built


def _readme_settings() -> set[str]:
    """The names in the first column of the README's table under "## Settings"."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {name for line in section.splitlines() if line.startswith("| `LINLI_")
            for name in re.findall(r"`(LINLI_[A-Z0-9_]+)`", line.split(" | ", 1)[0])}


def test_every_linli_setting_read_is_in_the_readme_table():
    """One place says every ``LINLI_*`` setting: the README's table. A name read in the code and
    missing there fails, so does a name the table lists and nothing reads, and so does a name built
    at run time (``env(f"X_{name}")``), which would hide from this check."""
    read, built = _linli_names_read()
    documented = _readme_settings()
    assert built == [], "write LINLI_ names whole where they are read"
    assert {"LINLI_DATABASE_URL", "LINLI_SCHEDULER_LEASE_SECONDS", "LINLI_STAFF"} <= read  # the scan sees all three ways
    assert sorted(read - documented) == []
    assert sorted(documented - read) == []
