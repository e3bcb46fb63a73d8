"""``python -m optfn sweep ...``: see ``optfn._cli``."""

import sys

from ._cli import main

sys.exit(main())
