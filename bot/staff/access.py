"""Who may see a ticket, and how much of it: one answer for every action, command and notice.

- its reporter: all of it;
- a follower (a resident who reported the same problem): its progress, never the reporter's phone
  or room;
- staff: the tickets of the communities they serve (all of the street when they serve no one
  community); a handler's duty account: the tickets dispatched to that handler;
- a contact of the ticket's handler (the handlers file): the ticket, to act on it;
- anyone else: nothing, not even whether it exists.

Proactive messages (``EXTERNAL_…`` intents) ask here again for the conversation they land in, so a
ticket id given for the wrong recipient reveals nothing personal.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from bot.callbacks.store import CallbackView
from bot.handlers.contacts import contacts_for
from bot.people import roster
from bot.tickets.store import TicketStore
from bot.tickets.views import TicketView


def for_follower(ticket: TicketView) -> TicketView:
    """The ticket as a follower may see it: the reporter's phone and room left out."""
    return replace(ticket, phone=None, room=None)


def resident_view(store: TicketStore, ticket: Optional[TicketView], channel: Optional[str],
                  sender_id: str) -> Optional[TicketView]:
    """The ticket as this resident may see it (their own in full, a followed one without the
    reporter's contact), or None. ``channel`` None: the conversation's id on any channel (see
    actions.common.recipient)."""
    if ticket is None:
        return None
    if ticket.reporter_id == sender_id and channel in (None, ticket.reporter_channel):
        return ticket
    follows = any(person == (channel or person[0], sender_id) for person in store.followers(ticket.id))
    return for_follower(ticket) if follows else None


def staff_view(store: TicketStore, ticket: Optional[TicketView], channel: Optional[str],
               sender_id: str) -> Optional[TicketView]:
    """The ticket for this sender as staff (the role and scope asked of the roster now), or None."""
    member = roster.authorize_recipient(channel, sender_id, store.engine)
    return ticket if ticket is not None and member is not None and member.may_see(ticket) else None


def handler_contact_view(ticket: Optional[TicketView], channel: Optional[str],
                         sender_id: str) -> Optional[TicketView]:
    """The ticket for a contact of its handler, or None. ``channel`` None: a contact who never wrote
    yet, whose conversation has no input channel; the id is then matched on any of the contact's
    channels (a notice is only ever sent on the contact's own)."""
    if ticket is None:
        return None
    own = any(c.id == sender_id and channel in (None, c.channel) for c in contacts_for(ticket.handler_name or ""))
    return ticket if own else None


def is_staff(store: TicketStore, channel: Optional[str], sender_id: str) -> bool:
    return roster.authorize_recipient(channel, sender_id, store.engine) is not None


def callback_phone_visible(store: TicketStore, callback: CallbackView, channel: Optional[str],
                           sender_id: str) -> bool:
    """Whether this staff member may read a call-back's phone number. It is for whoever must call,
    as the call-back notice decides (bot.workflows.notices): the staff of its community, or the
    street's staff when it has no community or none of its own staff. The street supervising a
    community's call-back sees it masked, as in the overdue notice; a handler's duty account only
    for a call-back about one of its own tickets."""
    member = roster.authorize_recipient(channel, sender_id, store.engine)
    if member is None:
        return False
    if member.handlers:
        ticket = store.get(callback.ticket_id) if callback.ticket_id else None
        return ticket is not None and member.may_see(ticket)
    if member.communities:
        return callback.community in member.communities
    return not callback.community or callback.community not in _staffed_communities()


_staffed: dict = {}


def _staffed_communities() -> frozenset[str]:
    """The communities some staff member serves by name (read again when the staff file changes)."""
    from bot.config.staff import file_stamp, load_staff, staff_file

    key = (str(staff_file()), file_stamp(staff_file()))
    if key not in _staffed:
        _staffed.clear()
        _staffed[key] = frozenset(c for m in load_staff() for c in m.communities)
    return _staffed[key]
