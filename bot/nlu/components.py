"""Linli's own Rasa NLU components.

Why not DIET and ResponseSelector: on two cores their TensorFlow inference costs most of a turn's
budget, while linear models on Rasa's own sparse features classify these short Chinese messages as
accurately in well under a millisecond. The components below follow Rasa's LogisticRegressionClassifier
(same features, same sklearn model, skops persistence) and write their results in the shapes Rasa's
own components use, so rules, `utter_faq` and entity slot mappings work unchanged.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import ENTITIES, FEATURE_TYPE_SENTENCE, INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.linear_model import LogisticRegression

from bot.nlu import address

CATEGORY_PROPERTY = "category"
REPORT_INTENT = "report_issue"
FAQ_INTENT = "faq"


_FEATURES_KEY = "linli_sentence_features"


def sentence_features(message: Message) -> Optional[csr_matrix]:
    """The message's sentence-level text features (sparse, then dense, in pipeline order), computed
    once and kept on the message for the other classifiers.

    Rasa's `get_sparse_features` also combines the per-token sequence features, which these linear
    models never use and which cost more than the classification itself.
    """
    if message.get(_FEATURES_KEY) is None:
        parts = [f.features for f in message.features
                 if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_sparse()]
        parts += [f.features for f in message.features
                  if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_dense()]
        if not parts:
            return None
        message.set(_FEATURES_KEY, hstack([csr_matrix(p) for p in parts]).tocsr())
    return message.get(_FEATURES_KEY)


def message_features(messages: List[Message]) -> csr_matrix:
    return vstack([sentence_features(m) for m in messages]).tocsr()


class _SubLabelClassifier(GraphComponent):
    """A second-level classifier over the messages of one intent (complaint category, FAQ topic)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 10.0, "max_iter": 1000, "class_weight": "balanced"}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 clf: Optional[LogisticRegression] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self.clf = clf

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "_SubLabelClassifier":
        return cls(config, model_storage, resource)

    def _label(self, message: Message) -> Optional[str]:
        raise NotImplementedError

    def train(self, training_data: TrainingData) -> Resource:
        labelled: List[Tuple[Message, str]] = [
            (m, label) for m in training_data.intent_examples
            if m.get(TEXT) and (label := self._label(m))
        ]
        if len({label for _, label in labelled}) >= 2:
            self.clf = LogisticRegression(C=self.config["C"], max_iter=self.config["max_iter"],
                                          class_weight=self.config["class_weight"], random_state=42)
            self.clf.fit(message_features([m for m, _ in labelled]), [label for _, label in labelled])
            import skops.io as sio

            with self._storage.write_to(self._resource) as model_dir:
                sio.dump(self.clf, model_dir / "clf.skops")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "_SubLabelClassifier":
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as model_dir:
                # Only the types skops trusts by default (a LogisticRegression and numpy arrays):
                # a model file asking for anything else is refused, not executed.
                clf = sio.load(model_dir / "clf.skops", trusted=False)
        except ValueError:
            clf = None
        if clf is not None:
            # skops gives back C-ordered coefficients, and predict_proba on a sparse row then copies
            # coef_.T for every message; Fortran order gives the same probabilities without the copy.
            clf.coef_ = np.asfortranarray(clf.coef_)
        return cls(config, model_storage, resource, clf)

    def predict(self, messages: List[Message]) -> List[List[Tuple[str, float]]]:
        """Ranked (label, confidence) lists, best first; empty for a message with no features
        (an empty or whitespace-only text), which then gets no label at all."""
        rankings: List[List[Tuple[str, float]]] = [[] for _ in messages]
        featured = [i for i, m in enumerate(messages) if sentence_features(m) is not None]
        if self.clf is None or not featured:
            return rankings
        probabilities = self.clf.predict_proba(message_features([messages[i] for i in featured]))
        for i, row in zip(featured, probabilities):
            rankings[i] = sorted(zip(self.clf.classes_, map(float, row)), key=lambda p: -p[1])
        return rankings


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(_SubLabelClassifier, IntentClassifier):
    """Rasa's LogisticRegressionClassifier with the two settings it fixes made configurable.

    Complaints are nearly half of the examples and their wording varies most; forcing equal class
    weights shrinks each complaint example's say and pulls short complaints towards small intents.
    """

    def _label(self, message: Message) -> Optional[str]:
        return message.get(INTENT)

    def process(self, messages: List[Message]) -> List[Message]:
        for message, ranking in zip(messages, self.predict(messages)):
            named = [{"name": name, "confidence": confidence} for name, confidence in ranking[:10]]
            # Nothing to go on (empty text): no intent at zero confidence, which the
            # FallbackClassifier turns into nlu_fallback.
            message.set(INTENT, named[0] if named else {"name": None, "confidence": 0.0}, add_to_output=True)
            message.set("intent_ranking", named, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CategoryClassifier(_SubLabelClassifier, EntityExtractorMixin):
    """Gives every complaint a category, keyword or not ("屋里跟水帘洞似的" is a leak).

    Trained on `report_issue` examples whose intent-level metadata names the category. Every message
    gets a `category` property (name and confidence) so actions can use it whatever the intent; a
    `report_issue` message also gets a `category` entity that fills the slot.
    """

    def _label(self, message: Message) -> Optional[str]:
        if message.get(INTENT) != REPORT_INTENT:
            return None
        metadata = message.get("metadata") or {}
        return (metadata.get("intent") or {}).get("category")

    def process(self, messages: List[Message]) -> List[Message]:
        for message, ranking in zip(messages, self.predict(messages)):
            if not ranking:
                continue
            name, confidence = ranking[0]
            message.set(CATEGORY_PROPERTY, {"name": name, "confidence": confidence}, add_to_output=True)
            if (message.get(INTENT) or {}).get("name") == REPORT_INTENT:
                text = message.get(TEXT) or ""
                entity = {"entity": "category", "value": name, "start": 0, "end": len(text),
                          "confidence_entity": confidence}
                entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != "category"]
                message.set(ENTITIES, entities + self.add_extractor_name([entity]), add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FaqSelector(_SubLabelClassifier):
    """Chooses the FAQ topic for the `faq` retrieval intent, in ResponseSelector's output format."""

    def _label(self, message: Message) -> Optional[str]:
        return message.get(INTENT_RESPONSE_KEY) if message.get(INTENT) == FAQ_INTENT else None

    def process(self, messages: List[Message]) -> List[Message]:
        for message, ranking in zip(messages, self.predict(messages)):
            if not ranking:
                continue
            key, confidence = ranking[0]
            prediction = {
                "response": {"responses": [], "confidence": confidence, INTENT_RESPONSE_KEY: key,
                             "utter_action": f"utter_{key}"},
                "ranking": [{"confidence": c, INTENT_RESPONSE_KEY: k} for k, c in ranking[:5]],
            }
            message.set("response_selector",
                        {"all_retrieval_intents": [FAQ_INTENT], FAQ_INTENT: prediction},
                        add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class AddressEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Community, building, unit, room, phone and ticket id, read by the rules in `bot.nlu.address`.

    Community names and aliases come from the directory at load time, so a street that edits its
    directory needs no retraining.
    """

    def __init__(self, aliases: List[Tuple[str, str]]) -> None:
        self.aliases = aliases

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "AddressEntityExtractor":
        from bot.config.directory import get_directory

        return cls(get_directory().community_aliases())

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            spans = address.extract(message.get(TEXT) or "", self.aliases)
            found = [{"entity": s.entity, "value": s.value, "start": s.start, "end": s.end,
                      "confidence_entity": 1.0} for s in spans]
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found),
                        add_to_output=True)
        return messages
