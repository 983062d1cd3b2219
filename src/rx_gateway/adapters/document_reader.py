"""Reading a JSON document with errors that name the file, the line and the JSON path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rx_gateway.domain.errors import ReferenceDataError

T = TypeVar("T")


def line_of(text: str, path: tuple[str, ...]) -> int:
    """Best-effort line of a JSON path: find each key in turn after the previous one."""
    position = 0
    for key in path:
        found = text.find(f'"{key}"', position)
        if found < 0:
            break
        position = found
    return text.count("\n", 0, position) + 1 if text else 0


# No plan amount, count or limit comes near it; a larger one (10**30) reached the database
# and was refused there as a bare DataError naming no field. Sums of a few stay in bigint.
DOCUMENT_INT_MAX = 10**15


class Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        # every object read through get(): its path and the keys read of it
        self._read: dict[int, tuple[Mapping[str, Any], tuple[str, ...], set[str]]] = {}

    def unknown_keys(self) -> list[tuple[str, ...]]:
        """The paths of keys of objects the document's fields were read from that no field
        reads (a misspelling such as `copay_centz` leaves its field at its default), less the
        notes a person may leave: `description`, and any key starting with `_`."""
        return [
            (*prefix, str(key))
            for doc, prefix, keys in self._read.values()
            for key in doc
            if key not in keys and key != "description" and not str(key).startswith("_")
        ]

    def refuse_unknown_keys(self, known: frozenset[tuple[str, ...]] = frozenset()) -> None:
        """Refuse the first unknown key that is not in ``known`` (keys already stored)."""
        for path in self.unknown_keys():
            if path not in known:
                raise self.fail(path, "unknown key: no field of this name")

    def fail(self, path: tuple[str, ...], problem: str) -> ReferenceDataError:
        return ReferenceDataError(self.source, line_of(self.text, path), ".".join(path), problem)

    def get(
        self,
        doc: Mapping[str, Any],
        path: tuple[str, ...],
        kind: type[T],
        *,
        default: Any = ...,
        check: Callable[[Any], bool] | None = None,
        rule: str = "",
    ) -> T:
        key = path[-1]
        self._read.setdefault(id(doc), (doc, path[:-1], set()))[2].add(key)
        if key not in doc:
            if default is ...:
                raise self.fail(path, "is required")
            return default  # type: ignore[no-any-return]
        value = doc[key]
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if kind is int and (type(value) is not int):
            raise self.fail(path, f"must be an integer, got {value!r}")
        if kind is int and abs(value) > DOCUMENT_INT_MAX:  # the database's bigint, with room
            raise self.fail(path, f"must be at most {DOCUMENT_INT_MAX} in size, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(path, f"must be {kind.__name__}, got {value!r}")
        if check is not None and not check(value):
            raise self.fail(path, f"{rule}, got {value!r}")
        return value
