"""The recurring jobs and sweep steps every scheduler keeps, registered by the features they belong to.

The scheduler knows nothing of follow-ups or nudges: a workflow module registers its recurring job
(``@recurring``) or its part of the periodic sweep (``@sweep_step``) when it is imported, and
:func:`install` adds whatever is registered whenever a scheduler starts. The process that runs
jobs imports the workflows first (bot.runtime.scheduler).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from apscheduler.triggers.base import BaseTrigger


@dataclass(frozen=True)
class Recurring:
    job_id: str
    target: str                                  # "module:function", called with the Context
    trigger: Callable[..., BaseTrigger]          # built from the Context when the scheduler starts
    on_start: bool = False                       # also run once as soon as a scheduler starts


RECURRING: dict[str, Recurring] = {}
SWEEP_STEPS: dict[str, Callable] = {}


def recurring(job_id: str, trigger: Callable[..., BaseTrigger], on_start: bool = False) -> Callable:
    """Registers the decorated job function as a recurring job with a fixed id."""
    def register(function: Callable) -> Callable:
        RECURRING[job_id] = Recurring(job_id, f"{function.__module__}:{function.__qualname__}", trigger, on_start)
        return function
    return register


def sweep_step(name: str) -> Callable:
    """Registers ``function(context, batch) -> int`` as part of the periodic sweep, under ``name``."""
    def register(function: Callable) -> Callable:
        SWEEP_STEPS[name] = function
        return function
    return register


def install(context) -> None:
    """Adds (or updates) every registered recurring job; runs at every scheduler start."""
    for job in RECURRING.values():
        context.schedule.every(job.job_id, job.target, job.trigger(context), quiet=False)
        if job.on_start:
            context.schedule.at(f"{job.job_id}-on-start", job.target, context.clock(), quiet=False)
