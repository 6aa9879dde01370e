"""Prometheus metrics of one engine: request figures recorded by the edge, timer figures recorded
by the worker, and case/task counts read from the database at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from .store.db import Database
from .store.models import Case, HumanTask

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


class DatabaseCounts:
    """Cases by status and open tasks by group, counted when Prometheus scrapes."""

    def __init__(self, db: Database):
        self.db = db

    def collect(self):
        cases = GaugeMetricFamily("complaints_cases", "Cases by status", labels=["status"])
        tasks = GaugeMetricFamily(
            "complaints_open_tasks", "Open user tasks by candidate group", labels=["group"]
        )
        with self.db.unit_of_work(write=False) as uow:
            for status, count in uow.session.execute(select(Case.status, func.count()).group_by(Case.status)):
                cases.add_metric([status], count)
            for group, count in uow.session.execute(
                select(HumanTask.candidate_group, func.count())
                .where(HumanTask.status == "open")
                .group_by(HumanTask.candidate_group)
            ):
                tasks.add_metric([group or ""], count)
        yield cases
        yield tasks


class Metrics:
    def __init__(self, db: Database):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "complaints_http_requests",
            "HTTP requests",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "complaints_http_request_seconds",
            "HTTP request latency",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.timers_fired = Counter("complaints_timers_fired", "BPMN timers fired", registry=self.registry)
        self.timer_lateness = Histogram(
            "complaints_timer_lateness_seconds",
            "How long after its due time a timer fired",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "complaints_sla_breaches",
            "Deadlines that passed, by clock",
            ["clock"],
            registry=self.registry,
        )
        self.timer_failures = Counter(
            "complaints_timer_failures",
            "Due cases whose timers failed to run",
            registry=self.registry,
        )
        self.registry.register(DatabaseCounts(db))
