"""A small per-process cache of read results, keyed by the data version.

The data version is the newest outbox id: every pipeline run, import, intervention action and
feedback submission writes an outbox row in its transaction, so a new version means the
figures may have changed. The database stays the source of truth; the cache only saves
recomputing the same KPIs and analytics for every viewer between two writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.events.models import OutboxMessage

T = TypeVar("T")


def data_version(db: Session) -> int:
    return int(db.scalar(select(func.max(OutboxMessage.id))) or 0)


class ResultCache:
    def __init__(self, max_entries: int = 256) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, db: Session, key: Hashable, compute: Callable[[], T]) -> T:
        full_key = (key, data_version(db))
        with self._lock:
            if full_key in self._items:
                self._items.move_to_end(full_key)
                self.hits += 1
                value: T = self._items[full_key]
                return value
        result = compute()
        with self._lock:
            self.misses += 1
            self._items[full_key] = result
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
