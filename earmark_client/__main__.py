"""``python -m earmark_client ...`` is the same as the ``earmark`` command."""

import sys

from earmark_client.cli import main

sys.exit(main())
