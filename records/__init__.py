"""records: document-and-records governance for a telecom operator's customer-service files."""

__version__ = "0.1.0"
