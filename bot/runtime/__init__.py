"""Starting Linli's processes: training, the Rasa server, the action server, the scheduler process.
May import anything in bot.
"""
