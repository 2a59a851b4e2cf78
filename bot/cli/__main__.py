"""``python -m bot.cli``: the ``linli`` command."""
import sys

from bot.cli.main import main

sys.exit(main())
