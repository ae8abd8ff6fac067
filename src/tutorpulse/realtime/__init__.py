"""Cross-process "re-read now" push and a shared cache of dashboard aggregates.

Only used when ``TUTORPULSE_REDIS_URL`` is set. The database stays the source of truth: a
message only tells other processes that the data version (the newest outbox id) moved, so a
lost message delays an update until the next poll and never loses it.
"""
