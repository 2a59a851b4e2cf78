"""The Rasa project as Rasa sees it: data validates cleanly and every conversation test passes."""
import subprocess
import sys

from bot.runtime.processes import model_path
from bot.core.settings import PROJECT_ROOT, get_settings


def rasa(*args, tmp_path=None):
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=900)


def test_data_validates_without_warnings():
    result = rasa("data", "validate", "--fail-on-warnings", "--config", "config.yml",
                  "--domain", "dialogs/domain", "--data", "nlu", "dialogs")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_conversation_stories(tmp_path):
    result = rasa("test", "core", "--model", str(model_path(get_settings())), "--stories", "tests/stories",
                  "--endpoints", str(tmp_path / "none.yml"), "--out", str(tmp_path / "results"),
                  "--fail-on-prediction-errors")
    failed = (tmp_path / "results" / "failed_test_stories.yml")
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, details[-4000:] + result.stdout[-3000:] + result.stderr[-3000:]
