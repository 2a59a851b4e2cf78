"""The Rasa project as Rasa sees it: the data validates without a warning Rasa could act on, and
every conversation test passes when it is really played (actions, forms and role checks running),
and as the policies predict it."""
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from bot.cli.validate import blind_spot, warnings_in
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT, get_settings
from bot.runtime.processes import model_path
from tests.conversations import Player, load_stories, story_id
from tests.stack import start_stack


def rasa(*args, tmp_path=None):
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)



def test_the_warning_reader_and_the_blind_spots():
    """What ``linli validate`` relies on: warnings are read whole, and only the three blind spots pass."""
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
    even with --fail-on-warnings (rasa/validator.py: ``ignore_warnings or everything_is_alright``), so
    the command reads the output itself (bot/cli/validate.py): it prints every warning ``blind_spot``
    cannot explain and exits 1 if there is any. Here it prints none, exits 0 and says how many it explained."""
    result = subprocess.run([sys.executable, "-m", "bot.cli", "validate"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert re.fullmatch(r"0 unexplained warning\(s\); [1-9]\d* explained \(Rasa cannot see these uses: .*\)\n",
                        result.stdout), result.stdout[-4000:]


def test_validate_fails_on_a_warning_nothing_explains(tmp_path, capsys, monkeypatch):
    """The command's verdict on Rasa's output: one response nobody sends makes it print that warning
    alone and exit 1, beside a warning it explains."""
    import bot.runtime.processes as processes
    from bot.cli import validate

    output = ("/x/rasa/shared/utils/io.py:100: UserWarning: The utterance 'utter_never_sent' is not used in any "
              "story or rule.\n/x/rasa/shared/utils/io.py:100: UserWarning: The utterance 'utter_staff_refused' is "
              "not used in any story or rule.\n2026-12-02 13:43:12 INFO     rasa.validator  - Validating utterances...\n")
    monkeypatch.setattr(processes, "rasa_command",
                        lambda *args, **kw: subprocess.CompletedProcess(args, 0, stdout="", stderr=output))
    assert validate._cmd_validate(None) == 1
    printed = capsys.readouterr().out
    assert printed.splitlines() == ["warning: The utterance 'utter_never_sent' is not used in any story or rule.",
                                    "1 unexplained warning(s); 1 explained (Rasa cannot see these uses: 1 sent by code "
                                    "in actions/ or bot/)"]


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
