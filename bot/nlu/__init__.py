"""Understanding Chinese messages: the jieba tokenizer, the address and staff-command rules (these import
only ``bot.core``), and ``components.py`` and ``featurizers.py`` (a sentence-only count featurizer), the Rasa components, which Rasa loads by class
path and which may also read ``bot.config`` (the directory's community aliases).
May import: bot.config (components.py only: the layers test keeps the rest below it), bot.core.
"""
