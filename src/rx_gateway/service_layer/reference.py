"""The current reference snapshot, swapped whole when the data changes."""

from __future__ import annotations

import logging

from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.service_layer.ports import ClaimStore

log = logging.getLogger(__name__)


class ReferenceHolder:
    """Holds the immutable snapshot every claim reads; :meth:`reload` replaces it atomically."""

    def __init__(self, snapshot: ReferenceSnapshot) -> None:
        self._snapshot = snapshot

    @property
    def snapshot(self) -> ReferenceSnapshot:
        return self._snapshot

    async def reload(self, store: ClaimStore) -> ReferenceSnapshot:
        snapshot = await store.load_snapshot()
        if snapshot.version != self._snapshot.version:
            log.info("reference data reloaded", extra={"reference_version": snapshot.version})
        self._snapshot = snapshot
        return snapshot
