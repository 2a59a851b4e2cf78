"""Linli's own Rasa NLU components, named in ``config.yml``: the Jieba tokenizer that featurizes numbers
by their shape (tokenizer), the sentence-only count featurizer (featurizers), the linear intent,
category and FAQ classifiers and the address extractor (components, address), and the rule-based
staff-command recognizer (commands)."""
