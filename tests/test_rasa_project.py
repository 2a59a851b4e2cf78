"""The Rasa project as Rasa sees it: the data validates without a warning Rasa could act on, and
every conversation test passes when it is really played (actions, forms and role checks running),
and as the policies predict it."""
import ast
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from bot.cli.validate import DOMAIN
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT, get_settings
from bot.runtime.processes import model_path
from tests.conversations import Player, load_stories, story_id
from tests.stack import start_stack


def rasa(*args, tmp_path=None):
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)



_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PY_WARNING = re.compile(r"^\S+\.py:\d+: (\w*Warning): (.*?)(?=^\S+\.py:\d+: \w*Warning: |^\d{4}-\d\d-\d\d |\Z)",
                         re.M | re.S)
_LOG_WARNING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (?:WARNING|ERROR)\s+(.*)$", re.M)
#: Warnings about installed libraries, not about this project's data.
_LIBRARY = re.compile(r"^(Pending)?DeprecationWarning$|^MovedIn20Warning$")


def warnings_in(output: str) -> list[str]:
    """Every warning Rasa printed (its own raise_warning, Python warnings, WARNING log lines), as
    one line each, minus the deprecation notices of installed libraries."""
    text = _ANSI.sub("", output)
    found = [" ".join(line.strip() for line in message.strip().splitlines() if not line.strip().startswith("More info"))
             for category, message in _PY_WARNING.findall(text) if not _LIBRARY.match(category)]
    return found + _LOG_WARNING.findall(text)


def _code_strings() -> tuple[set[str], list[re.Pattern]]:
    """String literals in actions/ and bot/, and f-strings as patterns (``f"utter_{state}_notices"``)."""
    literals, patterns = set(), []
    for path in [*(PROJECT_ROOT / "actions").rglob("*.py"), *(PROJECT_ROOT / "bot").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                constant = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if not node.values or not isinstance(node.values[0], ast.Constant) or constant in ("utter_", "/"):
                    continue  # f"utter_{key}" or f"{a}{b}" names nothing in particular
                parts = [re.escape(v.value) if isinstance(v, ast.Constant) else "[A-Za-z0-9_]+" for v in node.values]
                patterns.append(re.compile("".join(parts)))
    return literals, patterns


def _domain() -> dict:
    merged: dict = {"intents": [], "forms": {}}
    for path in sorted(DOMAIN.glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        merged["intents"] += [next(iter(i)) if isinstance(i, dict) else i for i in part.get("intents") or []]
        merged["forms"].update(part.get("forms") or {})
    return merged


def blind_spot(warning: str) -> str | None:
    """Why Rasa 3.6's validator cannot know better, for the three warnings it gives for sound data;
    None for anything else. Its checks only read stories and rules, and NLU examples:

    - a response sent by a custom action (``dispatcher.utter_message(response=...)``) or asked by a
      form (``utter_ask_<slot>``) is "not used in any story or rule";
    - an intent the model must never predict is "not found in the NLU training data": ``EXTERNAL_``
      intents come only through ``trigger_intent``, staff commands are read by rule
      (bot/nlu/commands.py), and button answers arrive as ``/intent{...}`` payloads;
    - a retrieval intent (``faq``) must be listed in the domain for the rules, and Rasa adds it again
      from the NLU data's ``faq/<topic>`` examples, then reports the two as duplicated domain files.
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
        retrieval = {line.split(":", 1)[1].strip().split("/")[0] for path in (PROJECT_ROOT / "nlu").rglob("*.yml")
                     for line in path.read_text(encoding="utf-8").splitlines()
                     if re.match(r"^- intent:\s*\w+/", line.strip())}
        named = {name.strip() for name in duplicated.group(1).split(",")}
        return "a retrieval intent" if named and named <= retrieval and named <= set(_domain()["intents"]) else None
    return None


def test_the_warning_reader_and_the_blind_spots():
    """What the validate test relies on: warnings are read whole, and only the three blind spots pass."""
    sample = ("\x1b[93m/x/rasa/shared/utils/io.py:100: UserWarning: Issue found in 'dialogs/rules.yml': \n"
              "Found intent 'faq' in stories which is not part of the domain.\n  More info at https://rasa.com\n"
              "\x1b[0m/x/pkg_resources/__init__.py:3117: DeprecationWarning: Deprecated call\n  declare_namespace(pkg)\n"
              "2026-12-02 13:43:12 WARNING  rasa.validator  - Something odd\n"
              "/x/io.py:100: UserWarning: The utterance 'utter_help' is not used in any story or rule.\n")
    assert warnings_in(sample) == ["Issue found in 'dialogs/rules.yml': Found intent 'faq' in stories which is not part "
                                   "of the domain.", "The utterance 'utter_help' is not used in any story or rule.",
                                   "rasa.validator  - Something odd"]
    assert blind_spot("The utterance 'utter_ask_phone' is not used in any story or rule.") == "asked by its form"
    assert blind_spot("The utterance 'utter_staff_refused' is not used in any story or rule.") == \
        "sent by code in actions/ or bot/"
    assert blind_spot("The utterance 'utter_already_subscribed' is not used in any story or rule.") == \
        "sent by code in actions/ or bot/"  # f"utter_already_{state}d"
    assert blind_spot("The utterance 'utter_never_sent' is not used in any story or rule.") is None
    assert blind_spot("The intent 'EXTERNAL_followup' is listed in the domain file, but is not found in the NLU "
                      "training data.") == "trigger_intent only"
    assert blind_spot("The intent 'followup_answer' is listed in the domain file, but is not found in the NLU "
                      "training data.") == "a button payload"
    assert blind_spot("The intent 'report_issue_typo' is listed in the domain file, but is not found in the NLU "
                      "training data.") is None
    assert blind_spot("The following duplicated intents have been found across multiple domain files: faq") == \
        "a retrieval intent"
    assert blind_spot("The following duplicated intents have been found across multiple domain files: greet") is None
    assert blind_spot("Found intent 'faq' in stories which is not part of the domain.") is None


def test_data_validates_without_warnings_beyond_rasas_blind_spots():
    """``linli validate`` (``rasa data validate`` on the project's own paths), as a newcomer runs it.
    Rasa 3.6 never turns a warning about unused responses or intents without examples into a failure,
    even with --fail-on-warnings
    (rasa/validator.py: ``ignore_warnings or everything_is_alright``), so the output is read:
    every warning fails the test unless ``blind_spot`` shows Rasa could not have seen the use."""
    result = subprocess.run([sys.executable, "-m", "bot.cli", "validate"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "rasa.validator  - Validating utterances" in _ANSI.sub("", output), output[-3000:]
    found = warnings_in(output)
    unexplained = [w for w in found if blind_spot(w) is None]
    assert unexplained == [], "\n".join(unexplained)


@pytest.fixture(scope="module")
def story_stack(tmp_path_factory):
    """A stack of its own (action server on its own port, its own database, staff file and
    credentials), so the stories' actions really run, role checks included."""
    from sqlalchemy import create_engine

    from bot.cli.channels import WECHAT_CLASS

    folder = tmp_path_factory.mktemp("stories")
    staff_file = folder / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    # A WeChat account besides REST, so broadcasts have someone they can reach; nothing is sent to
    # it (no scheduler runs here), hence an address where nothing listens.
    credentials = folder / "credentials.yml"
    credentials.write_text(yaml.safe_dump({"rest": None, WECHAT_CLASS: {
        "appid": "wxstories", "secret": "s", "token": "t", "api_base_url": "http://127.0.0.1:9"}}))
    stack = start_stack(folder, staff_file=str(staff_file), credentials=str(credentials))
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    yield Player(stack, engine, staff_file)
    stack.stop()
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("story", [
    pytest.param(story, id=story_id(story), marks=[pytest.mark.xfail(strict=True, reason=story.metadata["xfail"])]
                 if story.metadata.get("xfail") else []) for story in load_stories()])
def test_conversation_stories(story_stack, story):
    """Each story of tests/stories/, said turn by turn to a real stack (tests/conversations.py):
    the intents, the actions that ran, the forms' loops and slots are the story's."""
    problems = story_stack.play(story)
    assert problems == [], "\n".join(problems) + "\n\nwhat happened:\n" + "\n".join(story_stack.transcript)


def test_the_policies_predict_every_story(tmp_path):
    """``rasa test core`` replays each story's own events and asks the policies for every next
    action: it runs no action at all (rasa/core/test.py), so it checks the rules and forms as the
    policies see them, nothing the actions do; ``test_conversation_stories`` runs them."""
    result = rasa("test", "core", "--model", str(model_path(get_settings())), "--stories", "tests/stories",
                  "--out", str(tmp_path / "results"), "--fail-on-prediction-errors")
    failed = (tmp_path / "results" / "failed_test_stories.yml")
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, details[-4000:] + result.stdout[-3000:] + result.stderr[-3000:]
