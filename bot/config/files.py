"""Reading the configuration files: one strict YAML reader and one reload for every cached file.

PyYAML keeps the last of two equal keys without a word, so a street that writes ``street:`` twice
silently loses the first. Here a repeated key, like a YAML syntax error, stops the load with the
file, the line and the key.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml


class ConfigError(ValueError):
    """A configuration file that cannot be used as written; the message names the file, line and key."""


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{self.name}, line {line}: the key '{key}' is there already (line {seen[key]}); "
                                  "the first would be ignored")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path | str) -> Any:
    """The parsed file; bad YAML or a repeated key raises ConfigError naming it (a missing file, OSError)."""
    path = Path(path)
    loader = _StrictLoader(path.read_text(encoding="utf-8"))
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    finally:
        loader.dispose()


_caches: list[Callable[[], None]] = []


def cached(function):
    """``lru_cache`` for a loader of configuration, cleared by :func:`reload_all` with every other one."""
    wrapped = lru_cache(maxsize=4)(function)
    _caches.append(wrapped.cache_clear)
    return wrapped


def reload_all() -> None:
    """Forgets every loaded configuration file, so the next use reads them all again (after an edit,
    in tests): the directory, the service policy and its parts, the broadcasts file, the report settings."""
    for clear in _caches:
        clear()
