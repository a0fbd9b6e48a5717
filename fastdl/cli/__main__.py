"""``python -m fastdl.cli``: the ``fastdl`` command."""

import sys

from fastdl.cli import main

sys.exit(main())
