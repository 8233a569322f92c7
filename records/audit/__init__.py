"""The access log that proves itself: events as leaves of an RFC 9162 Merkle tree, sealed into
signed checkpoints."""
