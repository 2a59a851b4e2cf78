"""No full phone number in any log line: every record and warning of a Linli process is masked before
any handler sees it.

Rasa logs a failed action server call with the whole request (the tracker, its slots, every message),
and the ``/intent{…}`` parse warning with the text typed; Sanic logs request errors; our own code logs
what it must. Rather than trust each call site, the process's log-record factory masks the formatted
message, the exception text and the stack of every record at creation, so handlers added later
(Rasa configures its own at start-up) only ever get masked text. Warnings are printed by
``warnings.showwarning``, which bypasses logging unless captured: that is wrapped too.
"""
from __future__ import annotations

import logging
import warnings

from bot.privacy.masks import mask_phones

_INSTALLED = "_linli_masks_phones"


def install() -> None:
    """Masks phone numbers in every log record and warning of this process; calling it again does
    nothing. Call it first thing in every process entry point."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, _INSTALLED, False):
        logging.setLogRecordFactory(_masking_factory(factory))
    if not getattr(warnings.showwarning, _INSTALLED, False):
        warnings.showwarning = _masking_showwarning(warnings.showwarning)


def _masking_factory(factory):
    formatter = logging.Formatter()

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        mask_record(record, formatter)
        return record

    setattr(make, _INSTALLED, True)
    return make


def mask_record(record: logging.LogRecord, formatter: logging.Formatter) -> None:
    """Replaces the record's message (with its arguments applied) and exception text by masked ones.
    The exception stays attached (handlers still see that there was one), but its text is set, so
    no formatter renders it again unmasked."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it itself when the record is emitted
        return
    record.msg, record.args = mask_phones(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_phones(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_phones(record.stack_info)


def _masking_showwarning(show):
    def showwarning(message, category, filename, lineno, file=None, line=None):
        show(mask_phones(str(message)), category, filename, lineno, file, mask_phones(line) if line else line)

    setattr(showwarning, _INSTALLED, True)
    return showwarning
