"""Helpers that test modules across the tree share: a real server process, the storages of the
contract suite, apps with plugins of a test's own. Test modules import from here, never from
each other."""
