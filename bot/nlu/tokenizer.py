"""Jieba tokens whose numbers are featurized by their shape, not their digits.

Residents' messages are full of numbers that say nothing about what they want: phone numbers, rooms,
ticket sequence numbers. Fed to the character n-gram features digit by digit, they made a complaint
with a phone number in it look like "88" (拜拜) to the intent classifier. The entity rules read
numbers from the text itself (bot/nlu/address.py), so the features only need to know that a number
was there and roughly what kind: the token keeps its text and gets a lemma such as ``NUM3`` or
``PHONE``, which is what Rasa's CountVectorsFeaturizer reads (``use_lemma``, its default).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

from bot.core.text import MOBILE

_NUMBER = re.compile(r"[0-9０-９]+")


def number_shape(text: str, keep: frozenset) -> str | None:
    """The lemma standing for a number token, or None for words and for numbers that are words
    themselves (``keep``: chat slang such as 88 and 886 for goodbye)."""
    if text in keep or not _NUMBER.fullmatch(text):
        return None
    if re.fullmatch(MOBILE, text):
        return "PHONE"
    return f"NUM{min(len(text), 5)}"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class NumberShapeJiebaTokenizer(JiebaTokenizer):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**JiebaTokenizer.get_default_config(), "keep_numbers": ["88", "886", "8888"]}

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        keep = frozenset(str(n) for n in self._config["keep_numbers"])
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.lemma = number_shape(token.text, keep) or token.lemma
        return tokens
