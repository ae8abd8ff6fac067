"""The notifier worker: delivers queued emails (outbox ``email.send``) through SMTP."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tutorpulse.events.models import OutboxMessage
from tutorpulse.interventions.models import Notification
from tutorpulse.interventions.notify import EmailSender

log = logging.getLogger("tutorpulse.notifier")


def deliver_emails(db: Session, *, sender: EmailSender, now: datetime, limit: int = 100) -> int:
    """Send up to ``limit`` queued emails; each is marked delivered only once it has gone."""
    queued = db.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.topic == "email.send", OutboxMessage.delivered_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for message in queued:
        notification = db.get(Notification, message.payload.get("notification_id"))
        if notification is None:
            message.delivered_at = now  # nothing left to send
            continue
        try:
            sender.send(
                to=message.payload["to"], subject=notification.subject, body=notification.body
            )
        except OSError as exc:
            log.warning("email %s not sent yet: %s", message.id, exc)
            break  # the server is unreachable: keep the rest queued, retry next round
        message.delivered_at = now
        notification.sent_at = now
        sent += 1
    return sent
