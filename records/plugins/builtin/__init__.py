"""Built-in behaviour, registered as plugins exactly as a third-party plugin would be."""
