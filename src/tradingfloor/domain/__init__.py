"""Value types, identifiers, instruments, commands, events and reject reasons.

The domain imports nothing from the rest of the package, and nothing that does I/O.
"""
