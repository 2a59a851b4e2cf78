"""Rasa's CountVectorsFeaturizer without the per-token features of the message text.

Rasa builds, for every message, a token-by-vocabulary matrix (one row per token) beside the one
sentence vector; Linli's classifiers read only sentence features (``components.sentence_features``)
and nothing else in the pipeline reads the text's sequence features, so building them was half of
the featurizers' time on every turn (bench/PROFILE.md, fix 11). Other attributes are featurized as
Rasa does.
"""
from __future__ import annotations

from typing import List, Optional, Text, Tuple

import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import TEXT

Matrices = List[Optional[scipy.sparse.spmatrix]]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Sentence features only for the message text (configured exactly as CountVectorsFeaturizer)."""

    def _create_features(self, attribute: Text, all_tokens: List[List[Text]]) -> Tuple[Matrices, Matrices]:
        vectorizer = self.vectorizers.get(attribute)
        if attribute != TEXT or not vectorizer:
            return super()._create_features(attribute, all_tokens)
        sentences: Matrices = []
        for tokens in all_tokens:
            if not tokens:
                sentences.append(None)
                continue
            vector = vectorizer.transform([" ".join(tokens)])
            vector.sort_indices()
            sentences.append(vector.tocoo())
        return [None] * len(all_tokens), sentences
