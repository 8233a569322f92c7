"""records: document-and-records governance for a telecom operator's customer-service files."""

__version__ = "0.1.0"

from records.plugins import hookimpl  # the marker plugin authors import

__all__ = ["__version__", "hookimpl"]
