"""``linli validate``: Rasa's check of the training data, on this project's layout, failing on any
warning that is not explained.

The domain is a folder of its own (``dialogs/domain``) inside ``dialogs/``: it is given once, with
``--domain``, and only the rules and the NLU files as ``--data`` (``--data nlu dialogs`` would read
the domain files a second time and report every response as duplicated).

Rasa 3.6 never fails on its warnings, even with ``--fail-on-warnings``: ``rasa/validator.py`` keeps
``everything_is_alright = ignore_warnings or everything_is_alright`` for unused responses and
intents without examples, so the exit code says nothing. This command therefore reads Rasa's output
instead: every warning is printed and fails the command (exit 1) unless :func:`blind_spot` shows it
is one Rasa gives for sound data because its checks only read the stories, the rules and the NLU
examples, never the code. What passes is counted, by reason, in the last line.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from functools import lru_cache

import yaml

from bot.core.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "dialogs" / "domain"


def data_paths() -> list[str]:
    """The NLU folder and every dialogue file outside the domain, relative to the project."""
    dialogues = sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "dialogs").rglob("*.yml")
                       if DOMAIN not in p.parents)
    return ["nlu", *dialogues]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PY_WARNING = re.compile(r"^\S+\.py:\d+: (\w*Warning): (.*?)(?=^\S+\.py:\d+: \w*Warning: |^\d{4}-\d\d-\d\d |\Z)",
                         re.M | re.S)
_LOG_WARNING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:WARNING|ERROR)\s+(.*)$", re.M)
#: Warnings about installed libraries (Rasa's own SQLAlchemy 1.4 calls, pkg_resources), not about
#: this project's data.
_LIBRARY = re.compile(r"^(Pending)?DeprecationWarning$|^MovedIn20Warning$")


#: Rasa's log line once its checks of the stories and responses ran (the last of them follow it).
_RAN = "rasa.validator  - Validating utterances"


def warnings_in(output: str) -> list[str]:
    """Every warning Rasa printed (its own raise_warning, Python warnings, WARNING log lines), as
    one line each, minus the deprecation notices of installed libraries."""
    text = _ANSI.sub("", output)
    found = [" ".join(line.strip() for line in message.strip().splitlines() if not line.strip().startswith("More info"))
             for category, message in _PY_WARNING.findall(text) if not _LIBRARY.match(category)]
    return found + _LOG_WARNING.findall(text)


@lru_cache(maxsize=1)
def _code_strings() -> tuple[frozenset[str], tuple[re.Pattern, ...]]:
    """String literals in actions/ and bot/, and f-strings as patterns (``f"utter_{state}_notices"``)."""
    literals, patterns = set(), []
    for path in [*(PROJECT_ROOT / "actions").rglob("*.py"), *(PROJECT_ROOT / "bot").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                constant = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
                if not node.values or not isinstance(node.values[0], ast.Constant) or constant in ("utter_", "/"):
                    continue  # f"utter_{key}" or f"{a}{b}" names nothing in particular
                parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else "[A-Za-z0-9_]+" for v in node.values]
                patterns.append(re.compile("".join(parts)))
    return frozenset(literals), tuple(patterns)


@lru_cache(maxsize=1)
def _domain() -> dict:
    merged: dict = {"intents": [], "forms": {}}
    for path in sorted(DOMAIN.glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged["intents"] += [next(iter(i)) if isinstance(i, dict) else i for i in part.get("intents") or []]
        merged["forms"].update(part.get("forms") or {})
    return merged


@lru_cache(maxsize=1)
def _retrieval_intents() -> frozenset[str]:
    """Intents with ``<intent>/<key>`` examples in the NLU data (``faq/hotline_12345``)."""
    return frozenset(line.split(":", 1)[1].strip().split("/")[0] for path in (PROJECT_ROOT / "nlu").rglob("*.yml")
                     for line in path.read_text(encoding="utf-8").splitlines()
                     if re.match(r"^- intent:\s*\w+/", line.strip()))


def blind_spot(warning: str) -> str | None:
    """Why the warning says nothing wrong about this project, for the three kinds Rasa 3.6 gives for
    sound data; None for anything else (the warning is then a real problem). Rasa's checks read
    only stories, rules and NLU examples:

    - "The utterance ... is not used in any story or rule": a response asked by a form
      (``utter_ask_<slot>``, Rasa picks it by the slot's name) or sent by a custom action
      (``dispatcher.utter_message(response=...)``, or a name built like ``f"utter_already_{state}d"``)
      is used, but not from a story. Only names that do appear in the code (actions/ or bot/) pass:
      a response nobody sends still fails.
    - "The intent ... is not found in the NLU training data": an intent the model must never
      predict from words has no examples on purpose. ``EXTERNAL_`` intents come only through
      ``trigger_intent`` (the scheduler, broadcasts, the workbench), staff commands are read by rule
      (bot/nlu/commands.py), and button answers arrive as ``/intent{...}`` payloads that Linli
      issued (bot/channels/guard.py). Examples would teach the classifier to guess them from what
      people type. Only such intents pass: an intent named nowhere in the code still fails.
    - "The following duplicated intents have been found across multiple domain files": a retrieval
      intent (``faq``) must be listed in the domain (without it, the rules reader reports "intent
      'faq' ... not part of the domain" and the merged domain loses its ``used_entities``), and
      Rasa's importer adds it again from the NLU data's ``faq/<topic>`` examples, then reports its
      own addition as a duplicate. Only retrieval intents pass.
    """
    from bot.nlu.commands import INTENT_NAME, OWN_INTENTS

    literals, patterns = _code_strings()
    unused = re.fullmatch(r"The utterance '(\S+)' is not used in any story or rule\.", warning)
    if unused:
        name = unused.group(1)
        asked = {f"utter_ask_{slot}" for form in _domain()["forms"].values() for slot in form["required_slots"]}
        if name in asked:
            return "asked by its form"
        if name in literals or any(p.fullmatch(name) for p in patterns):
            return "sent by code in actions/ or bot/"
        return None
    unseen = re.fullmatch(r"The intent '(\S+)' is listed in the domain file, but is not found in the NLU training "
                          r"data\.", warning)
    if unseen:
        name = unseen.group(1)
        if name.startswith("EXTERNAL_"):
            return "trigger_intent only"
        if name == INTENT_NAME or name in OWN_INTENTS.values():
            return "set by the staff command rules"
        if any(text.startswith(f"/{name}") and text[len(name) + 1:][:1] in ("", "{") for text in literals) or \
                any(p.pattern.startswith(re.escape(f"/{name}") + r"\{") for p in patterns):
            return "a button payload"
        return None
    duplicated = re.fullmatch(r"The following duplicated intents have been found across multiple domain files: (.*)",
                              warning)
    if duplicated:
        named = {name.strip() for name in duplicated.group(1).split(",")}
        return "a retrieval intent" if named and named <= _retrieval_intents() and named <= set(_domain()["intents"]) \
            else None
    return None


def report(output: str) -> tuple[list[str], Counter]:
    """The warnings in Rasa's output that nothing explains, and how many were explained, by reason."""
    unexplained: list[str] = []
    explained: Counter[str] = Counter()
    for warning in warnings_in(output):
        reason = blind_spot(warning)
        if reason is None:
            unexplained.append(warning)
        else:
            explained[reason] += 1
    return unexplained, explained


def _cmd_validate(_args: argparse.Namespace) -> int:
    from bot.runtime.processes import rasa_command

    result = rasa_command("data", "validate", "--config", "config.yml",
                          "--domain", str(DOMAIN.relative_to(PROJECT_ROOT)), "--data", *data_paths(),
                          capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0 or _RAN not in _ANSI.sub("", output):
        # an error Rasa itself fails on, or a run that never reached the checks: its output says why
        sys.stderr.write(output)
        return result.returncode or 1
    unexplained, explained = report(output)
    for warning in unexplained:
        print(f"warning: {warning}")
    reasons = ", ".join(f"{count} {reason}" for reason, count in explained.most_common())
    print(f"{len(unexplained)} unexplained warning(s); {sum(explained.values())} explained "
          f"(Rasa cannot see these uses: {reasons or 'none'})")
    return 1 if unexplained else 0


def register(sub) -> None:
    validate = sub.add_parser("validate", help="rasa data validate on the project's own domain, rules and NLU "
                                               "data; fails on any warning that is not explained")
    validate.set_defaults(func=_cmd_validate)
