"""Sending one message to several recipients, each once, and staff notices."""
from __future__ import annotations

from typing import Protocol

from bot.core.errors import RetryLater
from bot.messaging.delivery import Delivery, DeliveryFailed


class Context(Protocol):
    """What sending needs of a job's context (``bot.scheduling.scheduler.Context`` is one): the
    delivery. Declared here so messaging does not depend on the scheduler that runs the jobs."""

    @property
    def delivery(self) -> Delivery: ...


def notify_staff(context: Context, key: str, recipients, notice: str, ticket_id: str | None = None, **entities) -> None:
    """One staff notice to each recipient."""
    send_each(context, key, recipients, "EXTERNAL_staff_notice", {"notice": notice, "ticket_id": ticket_id, **entities})


def send_each(context: Context, key: str, recipients, intent: str, entities: dict) -> None:
    """``intent`` to each recipient, each delivered once under ``key``; failures are retried together
    (the job runs again and the ones already sent are skipped)."""
    failures = []
    for to in recipients:
        try:
            context.delivery.send(f"{key}:{to.channel}:{to.conversation_id}", to, intent, entities)
        except DeliveryFailed as error:
            failures.append(str(error))
    if failures:
        raise RetryLater("; ".join(failures))
