"""Cluster events (`core/v1` Event): their times, and which workload each one is about.

An event names the object it is about (`involvedObject`: kind, name). The events of a workload
are those about the workload itself, its ReplicaSets, its HorizontalPodAutoscaler (by the
common convention of naming it after the workload) and its pods. Pods are matched by name, as
their controllers name them, so the events of pods that are gone are still found:

* a Deployment's pod: `<replicaset>-<5 characters>` (the ReplicaSet name cut to 58 characters
  with its dash, as the API server's `generateName` does);
* a StatefulSet's pod: `<statefulset>-<ordinal>`;
* a DaemonSet's pod: `<daemonset>-<5 characters>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.kubernetes._rollouts import time_of

_GENERATED_BASE = 58  # generateName keeps at most this many characters of the prefix
_RANDOM = "[bcdfghjklmnpqrstvwxz2456789]{5}"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    key: str  # uid, else namespace/name
    namespace: str
    reason: str
    type: str  # Normal | Warning
    message: str
    count: int
    object_kind: str
    object_name: str
    first: datetime
    last: datetime
    component: str | None


def parse_event(item: Mapping[str, Any]) -> ClusterEvent | None:
    """A `core/v1` Event; None when it has no time at all.

    First seen: `eventTime` (events.k8s.io-style recorders), else `firstTimestamp`; last seen:
    `series.lastObservedTime`, else `lastTimestamp`. The count is `series.count` or `count`.
    """
    meta = item.get("metadata") or {}
    obj = item.get("involvedObject") or item.get("regarding") or {}
    series = item.get("series") or {}
    first = (
        time_of(item.get("eventTime"))
        or time_of(item.get("firstTimestamp"))
        or time_of(item.get("deprecatedFirstTimestamp"))
        or time_of(item.get("lastTimestamp"))
        or time_of(meta.get("creationTimestamp"))
    )
    if first is None:
        return None
    last = (
        time_of(series.get("lastObservedTime"))
        or time_of(item.get("lastTimestamp"))
        or time_of(item.get("deprecatedLastTimestamp"))
        or first
    )
    count = series.get("count") or item.get("count") or item.get("deprecatedCount") or 1
    source = item.get("source") or {}
    namespace = str(meta.get("namespace") or obj.get("namespace") or "")
    return ClusterEvent(
        key=str(meta.get("uid") or f"{namespace}/{meta.get('name', '')}"),
        namespace=namespace,
        reason=str(item.get("reason") or ""),
        type=str(item.get("type") or ""),
        message=str(item.get("message") or item.get("note") or ""),
        count=int(count) if isinstance(count, int) else 1,
        object_kind=str(obj.get("kind") or ""),
        object_name=str(obj.get("name") or ""),
        first=first,
        last=max(first, last),
        component=str(item.get("reportingComponent") or source.get("component") or "") or None,
    )


@dataclass(frozen=True, slots=True)
class Owner:
    """A workload whose events are wanted, with the names of its ReplicaSets (Deployments)."""

    key: str  # "Deployment/prod/payments"
    kind: str
    namespace: str
    name: str
    replicasets: tuple[str, ...] = ()


class EventIndex:
    """Which owner an event of one namespace is about."""

    def __init__(self, owners: Iterable[Owner]) -> None:
        self._exact: dict[tuple[str, str], str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for o in owners:
            self._exact[(o.kind, o.name)] = o.key
            self._exact.setdefault(("HorizontalPodAutoscaler", o.name), o.key)
            if o.kind == "Deployment":
                for rs in o.replicasets:
                    self._exact[("ReplicaSet", rs)] = o.key
                    patterns.append((re.compile(re.escape((rs + "-")[:_GENERATED_BASE]) + _RANDOM), o.key))
            elif o.kind == "StatefulSet":
                patterns.append((re.compile(re.escape(o.name) + r"-(0|[1-9][0-9]*)"), o.key))
            elif o.kind == "DaemonSet":
                patterns.append((re.compile(re.escape((o.name + "-")[:_GENERATED_BASE]) + _RANDOM), o.key))
        # longer prefixes first, so `payments-worker-...` is not taken for `payments`
        self._pods = sorted(patterns, key=lambda p: -len(p[0].pattern))

    def owner(self, event: ClusterEvent) -> str | None:
        if event.object_kind == "Pod":
            for pattern, key in self._pods:
                if pattern.fullmatch(event.object_name):
                    return key
            return None
        return self._exact.get((event.object_kind, event.object_name))
