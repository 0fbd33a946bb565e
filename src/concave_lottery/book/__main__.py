"""``python -m concave_lottery.book build|run|status|check|sync|publish …``."""

import sys

from .cli import main

sys.exit(main())
