"""The journal interface the sequencer writes to and recovery reads from."""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from tradingfloor.journal.codec import Entry


class JournalRollbackUnsupported(RuntimeError):
    """The journal cannot tell that a failed append left nothing behind."""


class Journal(ABC):
    """A durable, ordered log of sequenced commands.

    `append` returns only once the entries are durable (by the journal's policy); a failure
    raises. The sequencer then calls `rollback_failed_append`: if the journal can undo the
    failed append, the batch's callers are refused (their commands are not in the journal) and
    the sequencer refuses commands for a while before it tries the next batch; if it cannot,
    the sequencer stops. The failed batch itself is never written again.
    """

    @property
    @abstractmethod
    def last_seq(self) -> int:
        """The newest sequence number in the journal (0 when empty)."""

    @abstractmethod
    async def open(self, after_seq: int = 0) -> None:
        """Check the journal and cut a torn tail; an empty journal continues after `after_seq`."""

    @abstractmethod
    async def append(self, entries: list[Entry]) -> None:
        """Make a batch durable, in order, continuing `last_seq`."""

    async def rollback_failed_append(self) -> None:
        """Make sure that nothing of the last, failed `append` is or will ever be in the journal,
        or raise. By default it raises: a journal whose failed append may still have taken
        effect (a publish whose answer was lost) must stop the sequencer."""
        raise JournalRollbackUnsupported(f"{type(self).__name__} cannot undo a failed append")

    @abstractmethod
    def replay(self, from_seq: int = 1) -> AsyncIterator[Entry]:
        """Entries with seq >= from_seq, in order."""

    @abstractmethod
    async def close(self) -> None: ...
