"""Encryption at rest: keyring, envelope and field encryption, blind indexes, masking."""
