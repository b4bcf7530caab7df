"""``python -m codings`` (and ``torchrun -m codings``) runs the command line."""

import sys

from .cli import main

sys.exit(main())
