"""``python -m concave_lottery.book build|run|status|check|sync|publish …``."""

import sys

from .pipeline import main

sys.exit(main())
