"""``python -m bpnn``: the same as the ``bpnn`` command."""

from bpnn.cli import main

raise SystemExit(main())
