"""From a finished `TraceAggregator` to the collector's result: series, exemplars, blind spots."""

from __future__ import annotations

from collections.abc import Callable

from collectors._traces.aggregate import TraceAggregator
from collectors._traces.config import TraceSettings
from dossier.model import Event, from_epoch, stable_id
from dossier.plugin import CollectRequest, CollectResult


def emit(
    agg: TraceAggregator,
    result: CollectResult,
    *,
    instance: str,
    request: CollectRequest,
    config: TraceSettings,
    query: Callable[[str, str | None, str], str],
    where: str,
    search_link: Callable[[str, str | None], str | None] = lambda service, op: None,
    trace_link: Callable[[str], str | None] | None = None,
    request_id: str | None = None,
) -> CollectResult:
    """`where` names what was read (a path, a URL) in blind-spot reasons."""
    result.series.extend(
        agg.series(
            source=instance, query=query, link=search_link, request=request_id, max_operations=config.max_operations
        )
    )
    result.events.extend(
        agg.exemplar_events(
            source=instance,
            max_exemplars=config.max_exemplars,
            link=trace_link or config.trace_link,
            request=request_id,
        )
    )
    seen = {svc for (svc, _op) in agg.ops}
    grid = agg.grid
    for svc in request.services:
        if svc.name in seen:
            continue
        names = ", ".join(repr(n) for n in (svc.name, *svc.aliases))
        result.events.append(
            Event(
                id=stable_id(instance, "no spans", svc.name, repr(grid.start), repr(grid.end)),
                at=from_epoch(grid.start),
                end=from_epoch(grid.end),
                kind="telemetry_gap",
                source=instance,
                service=svc.name,
                title=f"no spans of {svc.name} in {where}",
                attrs={
                    "telemetry": "traces",
                    "reason": (
                        f"{where} holds no server or consumer span of service.name {names} in the window: "
                        "check that the service is traced and exports there"
                    ),
                },
                request=request_id,
            )
        )
    if agg.dropped_services:
        result.truncate(
            f"spans of more than max_services ({config.max_services:,}) services: "
            f"{len(agg.dropped_services):,} services left out (raise max_services)"
        )
    return result
