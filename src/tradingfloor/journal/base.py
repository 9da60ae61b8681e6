"""The journal interface the sequencer writes to and recovery reads from."""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from tradingfloor.journal.codec import Entry


class Journal(ABC):
    """A durable, ordered log of sequenced commands.

    `append` returns only once the entries are durable (by the journal's policy); a failure
    raises and the sequencer stops: a journal write is never retried silently.
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

    @abstractmethod
    def replay(self, from_seq: int = 1) -> AsyncIterator[Entry]:
        """Entries with seq >= from_seq, in order."""

    @abstractmethod
    async def close(self) -> None: ...
