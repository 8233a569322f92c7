"""The HTTP API (litestar): thin controllers over services."""
