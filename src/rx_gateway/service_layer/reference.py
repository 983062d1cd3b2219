"""The current reference snapshot, swapped whole when the data changes."""

from __future__ import annotations

import logging

from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.service_layer.ports import ReferenceLoader

log = logging.getLogger(__name__)


class ReferenceHolder:
    """Holds the immutable snapshot every claim reads; :meth:`reload` replaces it atomically."""

    def __init__(self, snapshot: ReferenceSnapshot) -> None:
        self._snapshot = snapshot

    @property
    def snapshot(self) -> ReferenceSnapshot:
        return self._snapshot

    async def reload(self, loader: ReferenceLoader) -> ReferenceSnapshot:
        """Read the stored reference data and swap it in if it is newer than what is held.
        Two reloads may finish out of order (two loads in quick succession): the older one
        never replaces the newer."""
        snapshot = await loader.load_snapshot()
        if _version(snapshot.version) > _version(self._snapshot.version):
            self._snapshot = snapshot
            log.info("reference data reloaded", extra={"reference_data_version": snapshot.version})
        return self._snapshot

    def is_behind(self, stored_version: str) -> bool:
        return _version(stored_version) > _version(self._snapshot.version)


def _version(text: str) -> int:
    """Reference versions are the database's increasing load numbers."""
    return int(text) if text.isascii() and text.isdigit() else -1
