"""Entry point: `python -m api serve | worker | deploy`."""

import sys

from .cli import main

sys.exit(main())
