"""The recurring jobs and sweep steps every scheduler keeps, registered by the features they belong to.

The scheduler knows nothing of follow-ups or nudges: a workflow module registers its recurring job
(``@recurring``) or its part of the periodic sweep (``@sweep_step``) when it is imported, and
:func:`install` adds whatever is registered whenever a scheduler starts. The process that runs
jobs imports the workflows first (bot.runtime.scheduler).

SQL is the record and the job store a cache of it: when the store has lost the recurring jobs
(Redis restarted empty, or a fresh store), every feature's ``@on_rebuild`` step turns the state in
SQL back into its jobs (:func:`restore`).
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
REBUILD_STEPS: dict[str, Callable] = {}


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


def on_rebuild(name: str) -> Callable:
    """Registers ``function(context) -> int`` that re-creates, from SQL, the jobs of its feature that
    a lost job store no longer holds (idempotent: job ids are fixed and jobs check state)."""
    def register(function: Callable) -> Callable:
        REBUILD_STEPS[name] = function
        return function
    return register


def store_lost(context) -> bool:
    """The job store lacks a recurring job: it was emptied (or never held them)."""
    return any(context.schedule.get(job.job_id) is None for job in RECURRING.values())


def restore(context) -> dict:
    """Every job again from SQL, then the recurring ones (their presence marks the store whole)."""
    counts = {name: step(context) for name, step in REBUILD_STEPS.items()}
    install(context)
    return counts


def install(context) -> None:
    """Adds (or updates) every registered recurring job; runs at every scheduler start."""
    for job in RECURRING.values():
        context.schedule.every(job.job_id, job.target, job.trigger(context), quiet=False)
        if job.on_start:
            context.schedule.at(f"{job.job_id}-on-start", job.target, context.clock(), quiet=False)
