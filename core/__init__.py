"""govops: operations toolkit for a city's e-government cloud, extranet and monitoring.

The library core never imports the CLI: everything here can be used from Python directly.
"""

__version__ = "0.1.0"
