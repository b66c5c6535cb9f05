"""``python -m session_store.cli``: the ``session-store`` command line."""

from __future__ import annotations

import sys

from session_store.cli import main

if __name__ == "__main__":
    sys.exit(main())
