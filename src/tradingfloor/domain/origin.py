"""Who sent a command: journaled beside it (not part of it), for the audit trail.

The engine never sees an origin: the same commands replay to the same events whoever sent
them. The gateway fills in the user, the API key or FIX session, the client's address and
itself; a role that sends commands of its own (settlement, the allocator, the demo market, an
operator's command line) names itself in `role`. Texts are bounded by the gateway and roles
that make them (`origin_text_length_max`).
"""

import msgspec

origin_text_length_max = 128
"""The longest text of any origin field, in characters."""


class Origin(msgspec.Struct, frozen=True, gc=False, array_like=True):
    user: str = ""
    """The username whose session or key sent the command ("" for a role)."""
    key_id: str = ""
    """The API key's id, when a key signed the request."""
    fix_session: str = ""
    """The FIX session (SenderCompID->TargetCompID), when the command came over FIX."""
    source: str = ""
    """The client's network address, as the gateway saw it."""
    gateway: str = ""
    """The gateway (host and process) that took the request."""
    role: str = ""
    """The role that sent the command itself (settlement, allocator, demo, cli)."""
    ts_received: int = 0
    """When the gateway or role took it, integer nanoseconds (0: not known)."""


NO_ORIGIN = Origin()
"""A command journaled before origins were kept, or sent with none."""


def role_origin(role: str) -> Origin:
    """The origin of a command a role sends on its own."""
    return Origin(role=role[:origin_text_length_max])
