"""Sending messages to people (password reset links): a Protocol with two implementations.

``OutboxNotifier`` writes the message to the outbox in the caller's transaction; the
notifier worker delivers it by SMTP when configured, otherwise it stays visible in the UI
(DESIGN §5 "Email"). ``InMemoryNotifier`` is the test fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tutorpulse.events.service import emit

EMAIL_TOPIC = "notification.email"


class Notifier(Protocol):
    def send(self, *, to: str, subject: str, body: str, now: datetime) -> None: ...


class OutboxNotifier:
    def __init__(self, db: Session) -> None:
        self._db = db

    def send(self, *, to: str, subject: str, body: str, now: datetime) -> None:
        emit(
            self._db,
            topic=EMAIL_TOPIC,
            payload={"to": to, "subject": subject, "body": body},
            now=now,
        )


@dataclass
class SentMessage:
    to: str
    subject: str
    body: str
    at: datetime


@dataclass
class InMemoryNotifier:
    sent: list[SentMessage] = field(default_factory=list)

    def send(self, *, to: str, subject: str, body: str, now: datetime) -> None:
        self.sent.append(SentMessage(to=to, subject=subject, body=body, at=now))
