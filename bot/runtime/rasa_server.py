"""Rasa's own command line, with one fix applied first: action-server responses validated by a
JSON-schema validator compiled once.

Rasa 3.6 calls ``jsonschema.validate`` for every custom-action response, which re-checks the whole
response schema itself each time: about 80 ms of CPU per action call on these machines, more than
everything else in a turn together (see BENCHMARKS.md). The schema, the validation and the error
message are Rasa's; only the repeated schema check is gone. Run as ``python -m bot.runtime.rasa_server``
with the arguments of ``rasa``.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any, Dict, Text

from jsonschema import validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

from bot.runtime import resilience


@lru_cache(maxsize=1)
def _response_validator():
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    error = best_match(_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error
    return True


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
    resilience.install()  # a turn whose action server or Redis is down says so and is not saved


if __name__ == "__main__":
    install()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    sys.exit(main())
