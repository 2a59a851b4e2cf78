"""Telling riders when staff approve or pause them."""
from __future__ import annotations

from sqlalchemy import or_, select, update

from bot.core.db import session_scope
from bot.messaging.recipients import Recipient
from bot.messaging.send import send_each
from bot.scheduling.registry import sweep_step
from bot.scheduling.scheduler import Context
from bot.volunteers.models import Volunteer
from bot.volunteers.records import get

# -- telling riders what staff decided --------------------------------------------------------------

STATUS_INTENT = "EXTERNAL_volunteer_status"
_TOLD = ("active", "paused")


@sweep_step("volunteers")
def sweep(context: Context, batch: int = 500) -> int:
    """Riders whose approval or pause they have not heard about yet: one job each, whoever changed
    the status (``linli volunteers``, a staff chat command). The job goes in before the mark."""
    query = (select(Volunteer.channel, Volunteer.sender_id, Volunteer.status)
             .where(Volunteer.status.in_(_TOLD), or_(Volunteer.told_status.is_(None),
                                                      Volunteer.told_status != Volunteer.status)).limit(batch))
    with session_scope(context.engine) as session:
        changed = session.execute(query).all()
    for channel, sender_id, status in changed:
        context.schedule.at(f"volunteer:{channel}:{sender_id}:{status}", tell, context.clock(),
                            channel=channel, sender_id=sender_id, status=status)
        with session_scope(context.engine) as session:
            session.execute(update(Volunteer).where(Volunteer.channel == channel, Volunteer.sender_id == sender_id,
                                                    Volunteer.status == status).values(told_status=status))
    return len(changed)


def tell(context: Context, channel: str, sender_id: str, status: str) -> None:
    """Once per change: the key holds the moment of the change, so a later approval is told again."""
    view = get(context.engine, channel, sender_id)
    if view is None or view.status != status:
        return  # changed again since; that change has its own job
    send_each(context, f"volunteer:{view.key}:{status}:{view.updated_at.isoformat()}",
              [Recipient(channel, sender_id)], STATUS_INTENT, {"volunteer_status": status})
