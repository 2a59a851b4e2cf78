"""Reading the configuration files: one strict YAML reader, typed models, one reload for every cached file.

PyYAML keeps the last of two equal keys without a word, so a street that writes ``street:`` twice
silently loses the first. Here a repeated key, like a YAML syntax error, stops the load with the
file, the line and the key; so does a value a file's pydantic model refuses (:func:`load_model`).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used as written; the message names the file, line and key."""


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
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


def load_model(model: type[Model], path: Path | str) -> Model:
    """The file read into its pydantic model; a missing key, a wrong type or an unknown key raises
    ConfigError with one line per problem: the file, the line and the dotted key."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        return model.parse_obj(raw if raw is not None else {})
    except ValidationError as error:
        tree = yaml.compose(path.read_text(encoding="utf-8"))
        raise ConfigError("\n".join(f"{path}, line {_line_of(tree, problem['loc'])}: "
                                    f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                                    for problem in error.errors())) from None


def _line_of(node: yaml.Node | None, loc: tuple) -> int:
    """The line of the deepest part of ``loc`` present in the file (1 for the file itself)."""
    line = 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


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
