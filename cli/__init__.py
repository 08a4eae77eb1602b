"""The govops command line (Typer). Only this package prints; everything else returns results."""
