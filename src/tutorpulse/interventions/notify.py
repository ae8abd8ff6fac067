"""Notifications: in-app rows, and email through SMTP when configured, else the outbox.

Creating a notification never talks to the network: email is queued as an outbox message in
the caller's transaction and delivered after commit by the notifier worker's ``EmailSender``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy.orm import Session

from tutorpulse.events import service as events
from tutorpulse.interventions.models import Notification


class EmailSender(Protocol):
    def send(self, *, to: str, subject: str, body: str) -> None: ...


@dataclass
class SmtpSender:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    use_tls: bool = True

    def send(self, *, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as client:
            if self.use_tls:
                client.starttls()
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


@dataclass
class RecordingSender:
    """In-memory sender for tests and for deployments that only read the outbox."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, *, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


def notify(
    db: Session,
    *,
    subject: str,
    body: str,
    now: datetime,
    recipient_user_id: int | None = None,
    recipient_role: str | None = None,
    tutor_id: str | None = None,
    email: str | None = None,
    intervention_id: int | None = None,
) -> Notification:
    """An in-app notification, plus an email queued in the outbox when an address is known."""
    notification = Notification(
        channel="email" if email else "in_app",
        recipient_user_id=recipient_user_id,
        recipient_role=recipient_role,
        tutor_id=tutor_id,
        intervention_id=intervention_id,
        subject=subject[:200],
        body=body,
        created_at=now,
    )
    db.add(notification)
    db.flush()
    if email:
        events.emit(
            db,
            topic="email.send",
            payload={"notification_id": notification.id, "to": email, "subject": subject},
            now=now,
        )
    return notification
