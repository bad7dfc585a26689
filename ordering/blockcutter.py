"""Block cutting: which envelopes go into which block, with Fabric's exact rules.

Pure and synchronous, like Fabric's ``orderer/common/blockcutter``: the chain feeds it
envelopes in order and decides *when* to call ``cut`` (BatchTimeout, config
transactions); this module decides only *how* a stream of envelopes is split so that a
block never exceeds MaxMessageCount and only an envelope larger than PreferredMaxBytes
on its own makes a block larger than PreferredMaxBytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Batch = list[bytes]


@dataclass(frozen=True)
class BatchSize:
    """A channel's ``Orderer.BatchSize`` (Fabric's defaults: 500, 10 MB, 2 MB)."""

    max_message_count: int = 500
    absolute_max_bytes: int = 10 * 1024 * 1024
    preferred_max_bytes: int = 2 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_message_count < 1:
            raise ValueError(f"max_message_count must be ≥ 1, got {self.max_message_count}")
        if not 0 < self.preferred_max_bytes <= self.absolute_max_bytes:
            raise ValueError(
                "preferred_max_bytes must be > 0 and ≤ absolute_max_bytes, got "
                f"{self.preferred_max_bytes} and {self.absolute_max_bytes}"
            )


@dataclass
class BlockCutter:
    """Accumulates envelopes into a pending batch and cuts full batches."""

    batch_size: BatchSize
    _pending: Batch = field(default_factory=list)
    _pending_bytes: int = 0

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def ordered(self, envelope: bytes) -> tuple[list[Batch], bool]:
        """Add one envelope; return the batches this cut (0, 1 or 2) and whether any
        envelopes are still pending (the caller starts its batch timer on that)."""
        size = len(envelope)
        batches: list[Batch] = []
        if size > self.batch_size.preferred_max_bytes:
            # Oversized: cut what is pending, then the envelope goes alone in a block.
            if self._pending:
                batches.append(self.cut())
            batches.append([envelope])
            return batches, False
        if self._pending and self._pending_bytes + size > self.batch_size.preferred_max_bytes:
            batches.append(self.cut())
        self._pending.append(envelope)
        self._pending_bytes += size
        if len(self._pending) >= self.batch_size.max_message_count:
            batches.append(self.cut())
        return batches, bool(self._pending)

    def cut(self) -> Batch:
        """Return the pending batch (possibly empty) and start a new one."""
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        return batch
