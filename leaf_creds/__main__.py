"""Run the command line as ``python -m leaf_creds`` (the same as ``leaf-creds``)."""

import sys

from .cli import main

sys.exit(main())
