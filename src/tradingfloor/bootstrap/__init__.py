"""Assembling the roles from settings: all in one process (`platform.Platform`), or each in
a process of its own under a supervisor (`processes`)."""
