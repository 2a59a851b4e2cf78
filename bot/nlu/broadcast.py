"""Staff broadcast commands, recognised by rule rather than learned.

"/通知 望园社区 明天9点到12点停水" must never be taken for a resident's complaint about water, and a
classifier would need examples it should never generalise from. Messages starting with a command
(``bot.broadcasts.COMMAND``, ``CANCEL_COMMAND``) get the intent outright, at full confidence; the
action checks the sender's role and reads the rest. Everything else passes through untouched.
Runs last in the pipeline, after the FallbackClassifier; Rasa's RegexMessageHandler after it
leaves these alone (it only rewrites messages naming a domain intent, such as button payloads).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

PREVIEW_INTENT = "broadcast_preview"
CANCEL_INTENT = "broadcast_cancel"


def command_intent(text: str) -> Optional[tuple[str, Optional[str]]]:
    """(intent, broadcast id or None) for a staff broadcast command; None for anything else."""
    from bot.broadcasts import CANCEL_COMMAND, COMMAND

    cancel = CANCEL_COMMAND.match(text)
    if cancel:
        return CANCEL_INTENT, cancel.group(1)
    return (PREVIEW_INTENT, None) if COMMAND.match(text) else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER,
                           DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class BroadcastCommands(GraphComponent, EntityExtractorMixin):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "BroadcastCommands":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            found = command_intent(message.get(TEXT) or "")
            if found is None:
                continue
            intent, broadcast_id = found
            message.set(INTENT, {"name": intent, "confidence": 1.0}, add_to_output=True)
            message.set("intent_ranking", [{"name": intent, "confidence": 1.0}], add_to_output=True)
            # Only the command's own entities: "望园社区" in a notice must not fill the staff
            # member's community slot as if they had reported something there.
            found = []
            if broadcast_id:
                text = message.get(TEXT)
                start = text.rindex(broadcast_id)
                found.append({"entity": "broadcast_id", "value": broadcast_id, "start": start,
                              "end": start + len(broadcast_id), "confidence_entity": 1.0})
            message.set(ENTITIES, self.add_extractor_name(found), add_to_output=True)
        return messages
