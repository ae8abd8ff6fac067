"""Records waiting for their moment: the simulator knows a day in advance, the world does not.

A simulated day produces records stamped later in that day (and feedback after midnight);
they are released only when the simulated clock passes their emission time. That is what
makes a run in 15-minute ticks emit exactly the records of a run in whole days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Buffer streams: the wire kinds, plus two kinds of session updates: bookings (announced as
# ``scheduled``) and ratings (the session again, once the student has rated it).
STREAMS = (
    "tutors",
    "students",
    "session_bookings",
    "sessions",
    "session_ratings",
    "feedback",
    "tutor_events",
)


@dataclass
class Chunk:
    emit: npt.NDArray[np.int64]  # emission time, epoch seconds; sorted with ``order``
    order: npt.NDArray[np.int64]  # tie-break: the record's sequence number
    tutor: npt.NDArray[np.int64]  # owning tutor (-1: none), so a churned tutor can be purged
    records: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.records)


def _sorted_chunk(
    emit: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    tutor: npt.NDArray[np.int64],
    records: list[dict[str, Any]],
) -> Chunk:
    permutation = np.lexsort((order, emit))
    return Chunk(
        emit=np.asarray(emit, dtype=np.int64)[permutation],
        order=np.asarray(order, dtype=np.int64)[permutation],
        tutor=np.asarray(tutor, dtype=np.int64)[permutation],
        records=[records[i] for i in permutation.tolist()],
    )


class EmissionBuffer:
    def __init__(self) -> None:
        self.chunks: dict[str, list[Chunk]] = {stream: [] for stream in STREAMS}

    def add(
        self,
        stream: str,
        *,
        emit: npt.ArrayLike,
        order: npt.ArrayLike,
        tutor: npt.ArrayLike,
        records: list[dict[str, Any]],
    ) -> None:
        if not records:
            return
        n = len(records)
        emit_arr = np.broadcast_to(np.asarray(emit, dtype=np.int64), (n,))
        order_arr = np.broadcast_to(np.asarray(order, dtype=np.int64), (n,))
        tutor_arr = np.broadcast_to(np.asarray(tutor, dtype=np.int64), (n,))
        self.chunks[stream].append(_sorted_chunk(emit_arr, order_arr, tutor_arr, records))

    def pop_until(self, until: int) -> dict[str, list[dict[str, Any]]]:
        """Every record with emission time <= ``until``, per stream, in (time, order) order."""
        released: dict[str, list[dict[str, Any]]] = {}
        for stream, chunks in self.chunks.items():
            heads: list[Chunk] = []
            kept: list[Chunk] = []
            for chunk in chunks:
                cut = int(np.searchsorted(chunk.emit, until, side="right"))
                if cut:
                    heads.append(
                        Chunk(
                            chunk.emit[:cut],
                            chunk.order[:cut],
                            chunk.tutor[:cut],
                            chunk.records[:cut],
                        )
                    )
                if cut < len(chunk):
                    kept.append(
                        Chunk(
                            chunk.emit[cut:],
                            chunk.order[cut:],
                            chunk.tutor[cut:],
                            chunk.records[cut:],
                        )
                    )
            self.chunks[stream] = kept
            released[stream] = _merge(heads)
        return released

    def purge(self, stream: str, cut_by_tutor: npt.NDArray[np.int64]) -> None:
        """Drop records of tutor ``t`` emitted after ``cut_by_tutor[t]`` (a churned tutor)."""
        kept: list[Chunk] = []
        for chunk in self.chunks[stream]:
            owned = chunk.tutor >= 0
            limit = np.full(len(chunk), np.iinfo(np.int64).max, dtype=np.int64)
            limit[owned] = cut_by_tutor[chunk.tutor[owned]]
            keep = chunk.emit <= limit
            if keep.all():
                kept.append(chunk)
            elif keep.any():
                index = np.flatnonzero(keep)
                kept.append(
                    Chunk(
                        chunk.emit[index],
                        chunk.order[index],
                        chunk.tutor[index],
                        [chunk.records[i] for i in index.tolist()],
                    )
                )
        self.chunks[stream] = kept

    def pending(self, stream: str) -> list[dict[str, Any]]:
        return _merge(self.chunks[stream])

    def to_state(self) -> dict[str, Any]:
        return {
            stream: [
                {"emit": c.emit, "order": c.order, "tutor": c.tutor, "records": c.records}
                for c in chunks
            ]
            for stream, chunks in self.chunks.items()
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EmissionBuffer:
        buffer = cls()
        for stream in STREAMS:
            buffer.chunks[stream] = [
                Chunk(
                    np.asarray(c["emit"], dtype=np.int64),
                    np.asarray(c["order"], dtype=np.int64),
                    np.asarray(c["tutor"], dtype=np.int64),
                    list(c["records"]),
                )
                for c in state.get(stream, [])
            ]
        return buffer


def _merge(chunks: list[Chunk]) -> list[dict[str, Any]]:
    if not chunks:
        return []
    if len(chunks) == 1:
        return chunks[0].records
    emit = np.concatenate([c.emit for c in chunks])
    order = np.concatenate([c.order for c in chunks])
    records = [r for c in chunks for r in c.records]
    permutation = np.lexsort((order, emit))
    return [records[i] for i in permutation.tolist()]
