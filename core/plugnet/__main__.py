"""``python -m plugnet`` runs the CLI."""

import sys

from plugnet.cli import main

sys.exit(main())
