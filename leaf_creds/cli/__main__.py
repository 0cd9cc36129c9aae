"""Run the command line as ``python -m leaf_creds.cli``."""

import sys

from . import main

sys.exit(main())
