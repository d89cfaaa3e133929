"""An immutable integer → text map in three flat buffers, for registries with tens of thousands of entries.

A dict of 62,000 IANA enterprise numbers costs about 20 MB of Python objects; the IEEE MAC tables about 13 MB.
Both are loaded by the agent for its local identification, next to scapy, on hosts where memory is scarce.
Here the same data is a sorted array of keys, one UTF-8 text buffer and an array of end offsets (about 2 MB
each), looked up by binary search: a lookup costs a few microseconds, which no caller notices.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping

#: 64-bit keys (36-bit MAC prefixes, 32-bit enterprise numbers) and 32-bit text offsets.
KEY_TYPE, END_TYPE = "Q", "I"


class PackedMap(Mapping[int, str]):
    """Read-only int → str mapping; build it from (key, value) pairs (the last value of a repeated key wins)."""

    __slots__ = ("_ends", "_keys", "_text")

    def __init__(self, items: Iterable[tuple[int, str]] | Mapping[int, str] = ()) -> None:
        pairs = dict(items)
        self._keys = array(KEY_TYPE, sorted(pairs))
        self._ends = array(END_TYPE)
        chunks: list[bytes] = []
        end = 0
        for key in self._keys:
            chunk = pairs[key].encode()
            chunks.append(chunk)
            end += len(chunk)
            self._ends.append(end)
        self._text = b"".join(chunks)

    def __getitem__(self, key: int) -> str:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._text[self._ends[i - 1] if i else 0 : self._ends[i]].decode()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self._index(key) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"PackedMap({len(self)} entries)"

    def _index(self, key: int) -> int:
        i = bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else -1

    # ---- on-disk cache (see cache.py): three byte strings, read back without a Python object per entry
    def buffers(self) -> tuple[bytes, bytes, bytes]:
        return self._keys.tobytes(), self._ends.tobytes(), self._text

    @classmethod
    def from_buffers(cls, keys: bytes, ends: bytes, text: bytes) -> PackedMap:
        packed = cls()
        packed._keys.frombytes(keys)
        packed._ends.frombytes(ends)
        packed._text = text
        if len(packed._keys) != len(packed._ends) or (packed._ends and packed._ends[-1] != len(text)):
            raise ValueError("inconsistent packed map buffers")
        return packed
