"""A small per-process cache of read results, keyed by the data version.

The data version is the newest outbox id: every pipeline run, import, intervention action and
feedback submission writes an outbox row in its transaction, so a new version means the
figures may have changed. The database stays the source of truth; the cache only saves
recomputing the same KPIs and analytics for every viewer between two writes.

With Redis configured (``shared``), results that are pydantic models are also kept in Redis
under the same version, so several web processes compute each aggregate once per write.
Invalidation is the version in the key: entries of old versions are never read again and
expire on their own.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tutorpulse.events.models import OutboxMessage
from tutorpulse.realtime.broker import Broker

T = TypeVar("T")


def data_version(db: Session) -> int:
    return int(db.scalar(select(func.max(OutboxMessage.id))) or 0)


class ResultCache:
    def __init__(self, max_entries: int = 256, *, shared: Broker | None = None) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._shared = shared
        self.hits = 0
        self.shared_hits = 0
        self.misses = 0

    def get_or_compute(
        self,
        db: Session,
        key: Hashable,
        compute: Callable[[], T],
        *,
        model: type[BaseModel] | None = None,
    ) -> T:
        """The cached result of ``compute`` for the current data version.

        ``model`` (the result's pydantic class) lets the result be shared through Redis.
        """
        version = data_version(db)
        full_key = (key, version)
        with self._lock:
            if full_key in self._items:
                self._items.move_to_end(full_key)
                self.hits += 1
                value: T = self._items[full_key]
                return value
        shared = self._shared if model is not None else None
        shared_key = _shared_key(key, version)
        if shared is not None and model is not None:
            raw = shared.cache_get(shared_key)
            if raw is not None:
                try:
                    result = cast(T, model.model_validate_json(raw))
                except ValueError:  # written by another release: recompute and overwrite
                    pass
                else:
                    self._remember(full_key, result, shared_hit=True)
                    return result
        result = compute()
        if shared is not None and isinstance(result, BaseModel):
            shared.cache_set(shared_key, result.model_dump_json().encode())
        self._remember(full_key, result, shared_hit=False)
        return result

    def _remember(self, full_key: Hashable, result: Any, *, shared_hit: bool) -> None:
        with self._lock:
            if shared_hit:
                self.shared_hits += 1
            else:
                self.misses += 1
            self._items[full_key] = result
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _shared_key(key: Hashable, version: int) -> str:
    # repr of the key tuple (strings, ints, dates) is stable across processes of a release.
    return f"v{version}:" + hashlib.sha256(repr(key).encode()).hexdigest()[:32]
