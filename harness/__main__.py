"""`python -m harness`: the splitbrain CLI. A Ctrl-C that lands while Python is still importing
is answered like one during a run: one line and exit 130, never a traceback."""

import sys

try:
    from harness.cli import entry
except KeyboardInterrupt:
    print("splitbrain: interrupted", file=sys.stderr)
    sys.exit(130)

entry()
