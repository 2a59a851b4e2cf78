"""The compiled action-response validator accepts and rejects exactly what Rasa's own does."""
import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot.runtime.rasa_server import _validate_action_result

GOOD = {"events": [{"event": "slot", "name": "building", "value": "5"}],
        "responses": [{"text": "好的", "buttons": []}]}
BAD = [{"events": "nope"}, {"events": [{"event": "slot", "timestamp": "yesterday"}]},
       {"responses": "x"}]


def test_accepts_what_rasa_accepts():
    assert _validate_action_result(None, GOOD) is True
    jsonschema.validate(GOOD, RemoteAction.action_response_format_spec())


@pytest.mark.parametrize("bad", BAD)
def test_rejects_what_rasa_rejects(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as error:
        _validate_action_result(None, bad)
    assert "Failed to validate Action server response" in error.value.message
