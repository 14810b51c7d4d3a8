"""``python -m wsss_zoo``: the same command line as ``wsss-zoo``."""
from .cli import main

raise SystemExit(main())
