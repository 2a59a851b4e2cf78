"""Understanding Chinese messages: the jieba tokenizer, the address and staff-command rules (these import
only ``bot.core``), and ``components.py``, the Rasa components built on them, which Rasa loads by class
path and which may also read ``bot.config`` (the directory's community aliases)."""
