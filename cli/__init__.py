"""The govops command line (Typer). Only this package prints; everything else returns results."""

import os

# Typer's rich help costs ~60 ms of imports on every `--help`; start-up speed is a goal (issue 3),
# so help is plain text unless asked for (GOVOPS_RICH_HELP=1). Must run before typer is imported.
if "TYPER_USE_RICH" not in os.environ:
    os.environ["TYPER_USE_RICH"] = "1" if os.environ.get("GOVOPS_RICH_HELP") == "1" else "0"
