"""Rollouts from the objects that hold a workload's revisions (pure: JSON in, values out).

A Deployment's revisions are its ReplicaSets: each carries `deployment.kubernetes.io/revision`,
and its `metadata.creationTimestamp` is when that revision was made. A StatefulSet's or
DaemonSet's revisions are its ControllerRevisions (`revision`, `data` = the pod template).

A rollback does not create a new object: the controller finds the old ReplicaSet (or
ControllerRevision) whose template equals the restored one and bumps its revision number. Its
creationTimestamp is then its *first* rollout, not this one. A revision is recognised as such a
reuse when

* the ReplicaSet's `deployment.kubernetes.io/revision-history` lists older revisions it served
  (the deployment controller appends the old number when it reuses a ReplicaSet), or
* the object is older than the object of an earlier revision (revision numbers only grow, so an
  object created before revision r-1's object yet holding revision r was reused), or
* its template's `kubectl.kubernetes.io/restartedAt` is older than the previous revision's (a
  restart time can only go back through a rollback).

The time of a reuse is taken from, in this order: the Deployment's `ScalingReplicaSet` events
("Scaled up replica set <name> ...") after the previous revision; the Deployment's `Progressing`
condition when it names the ReplicaSet (its lastUpdateTime: the rollout's last progress); a
ControllerRevision's last update (managedFields: ControllerRevisions are immutable apart from
their revision number). Without any of them the time is unknown and only bounds are given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dossier.model import parse_time

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HASH_LABELS = frozenset({"pod-template-hash", "controller-revision-hash"})

_SCALED_UP = re.compile(r"^Scaled up replica set (?P<name>\S+) (?:from \d+ )?to \d+")
_PROGRESSING_RS = re.compile(r'ReplicaSet "(?P<name>[^"]+)"')


@dataclass(frozen=True, slots=True)
class RevisionObject:
    """A ReplicaSet (of a Deployment) or a ControllerRevision (of a StatefulSet or DaemonSet)."""

    name: str
    created: datetime
    revisions: tuple[int, ...]  # every revision it served, ascending; the last is its current one
    template: Mapping[str, Any]  # the pod template, hash labels removed
    change_cause: str | None = None
    updated: datetime | None = None  # ControllerRevision: last update (a revision bump)

    @property
    def current(self) -> int:
        return self.revisions[-1]

    @property
    def first(self) -> int:
        return self.revisions[0]

    @property
    def containers(self) -> list[tuple[str, str]]:
        return _containers(self.template, "containers")

    @property
    def images(self) -> tuple[str, ...]:
        return tuple(image for _, image in self.containers)


@dataclass(frozen=True, slots=True)
class Rollout:
    revision: int
    obj: RevisionObject
    kind: str  # deploy | config_change | rollback
    change: str  # "image payments:v2.13.2 -> payments:v2.14.0"
    short: str  # for titles: "image v2.13.2 -> v2.14.0"
    previous: RevisionObject | None
    previous_revision: int | None
    at: datetime | None
    time_source: str
    after: datetime | None = None  # when `at` is unknown: it happened after this ...
    before: datetime | None = None  # ... and before this (None: up to now)
    rolled_back_to: int | None = None
    changed: tuple[str, ...] = ()  # template fields that changed (config changes)
    restart: bool = False

    @property
    def images(self) -> tuple[str, ...]:
        return self.obj.images

    @property
    def previous_images(self) -> tuple[str, ...] | None:
        return self.previous.images if self.previous is not None else None


@dataclass(frozen=True, slots=True)
class Timing:
    """What the cluster says about when a reused ReplicaSet was rolled out again."""

    scale_ups: Mapping[str, Sequence[datetime]] = field(default_factory=dict)  # RS name -> event times
    progressing: tuple[str, datetime] | None = None  # (RS named by the condition, its lastUpdateTime)
    current: int | None = None  # the workload's current revision


# ---- reading the objects ---------------------------------------------------------------------


def time_of(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def owned_by(obj: Mapping[str, Any], kind: str, name: str, uid: str | None) -> bool:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") != kind:
            continue
        if uid and ref.get("uid"):
            if ref["uid"] == uid:
                return True
        elif ref.get("name") == name:
            return True
    return False


def _clean_template(template: Any) -> dict[str, Any]:
    if not isinstance(template, Mapping):
        return {}
    out = {k: v for k, v in template.items() if k != "$patch"}
    meta = dict(out.get("metadata") or {})
    if meta.get("labels"):
        meta["labels"] = {k: v for k, v in meta["labels"].items() if k not in HASH_LABELS}
    meta.pop("creationTimestamp", None)
    out["metadata"] = meta
    return out


def replicaset_object(rs: Mapping[str, Any]) -> RevisionObject | None:
    """The revision a ReplicaSet holds, or None when it has no (readable) revision annotation."""
    meta = rs.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    created = time_of(meta.get("creationTimestamp"))
    try:
        current = int(annotations.get(REVISION, ""))
    except ValueError:
        return None
    if created is None or not meta.get("name"):
        return None
    history = set()
    for part in str(annotations.get(REVISION_HISTORY) or "").split(","):
        if part.strip().isdigit() and int(part) < current:
            history.add(int(part))
    return RevisionObject(
        name=meta["name"],
        created=created,
        revisions=(*sorted(history), current),
        template=_clean_template((rs.get("spec") or {}).get("template")),
        change_cause=annotations.get(CHANGE_CAUSE) or None,
    )


def controllerrevision_object(cr: Mapping[str, Any]) -> RevisionObject | None:
    meta = cr.get("metadata") or {}
    created = time_of(meta.get("creationTimestamp"))
    revision = cr.get("revision")
    if created is None or not isinstance(revision, int) or not meta.get("name"):
        return None
    data = cr.get("data") or {}
    template = (data.get("spec") or {}).get("template") if isinstance(data, Mapping) else None
    times = [time_of(m.get("time")) for m in meta.get("managedFields") or [] if isinstance(m, Mapping)]
    latest = max((t for t in times if t is not None), default=None)
    return RevisionObject(
        name=meta["name"],
        created=created,
        revisions=(revision,),
        template=_clean_template(template),
        change_cause=(meta.get("annotations") or {}).get(CHANGE_CAUSE) or None,
        updated=latest if latest is not None and latest > created else None,
    )


def deployment_timing(deployment: Mapping[str, Any], events: Iterable[tuple[str, datetime, datetime]]) -> Timing:
    """`events`: the (message, first, last) of the Deployment's ScalingReplicaSet events."""
    scale_ups: dict[str, list[datetime]] = {}
    for message, first, last in events:
        m = _SCALED_UP.match(message)
        if m:
            scale_ups.setdefault(m["name"], []).extend({first, last})
    progressing = None
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing":
            m = _PROGRESSING_RS.search(str(cond.get("message") or ""))
            when = time_of(cond.get("lastUpdateTime"))
            if m and when is not None:
                progressing = (m["name"], when)
    try:
        current = int(((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION, ""))
    except ValueError:
        current = None
    return Timing({k: sorted(v) for k, v in scale_ups.items()}, progressing, current)


# ---- what each revision changed, and when ------------------------------------------------------


def rollouts(objects: Sequence[RevisionObject], timing: Timing | None = None) -> list[Rollout]:
    """Every revision the objects hold, oldest first, with its kind, change and time."""
    timing = timing or Timing()
    by_revision: dict[int, RevisionObject] = {}
    for obj in sorted(objects, key=lambda o: (o.created, o.name)):
        for r in obj.revisions:
            by_revision[r] = obj  # a number claimed twice: the newer object wins
    numbers = sorted(by_revision)
    fresh_created = {o.first: o.created for o in objects if not _hidden_reuse(o, o.first, objects)}
    done: dict[int, Rollout] = {}
    for i, r in enumerate(numbers):
        obj = by_revision[r]
        prev_r = numbers[i - 1] if i else None
        prev = by_revision[prev_r] if prev_r is not None else None
        reused = r != obj.first or _hidden_reuse(obj, r, objects) or _restart_went_back(obj, prev)
        if reused:
            earlier = [v for v in obj.revisions if v < r]
            back_to = earlier[-1] if earlier else None
            after = None
            if prev_r is not None:
                p = done[prev_r]
                after = p.at or p.after
            later = [fresh_created[v] for v in fresh_created if v > r]
            before = min(later) if later else None
            at, source = _reuse_time(obj, r, after, before, timing)
            change, short = _rollback_text(back_to, prev, obj)
            done[r] = Rollout(
                revision=r,
                obj=obj,
                kind="rollback",
                change=change,
                short=short,
                previous=prev,
                previous_revision=prev_r,
                at=at,
                time_source=source,
                after=after if at is None else None,
                before=before if at is None else None,
                rolled_back_to=back_to,
            )
            continue
        if prev is None:
            # The revision before is gone, or its object was reused since and holds a higher number
            # now. When a single object is older than this one, it is what this revision replaced.
            older = [o for o in objects if o is not obj and o.created < obj.created]
            prev = older[0] if len(older) == 1 else None
        kind, change, short, changed, restart = _compare(prev, obj)
        done[r] = Rollout(
            revision=r,
            obj=obj,
            kind=kind,
            change=change,
            short=short,
            previous=prev,
            previous_revision=prev_r,
            at=obj.created,
            time_source="creationTimestamp",
            changed=changed,
            restart=restart,
        )
    return [done[r] for r in numbers]


def _hidden_reuse(obj: RevisionObject, r: int, objects: Sequence[RevisionObject]) -> bool:
    """An object created before the object of an earlier revision cannot have been made for r."""
    return any(other.first < r and other.created > obj.created for other in objects if other is not obj)


def _restart_went_back(obj: RevisionObject, prev: RevisionObject | None) -> bool:
    if prev is None:
        return False
    mine = time_of(_annotations(obj.template).get(RESTARTED_AT))
    theirs = time_of(_annotations(prev.template).get(RESTARTED_AT))
    return mine is not None and theirs is not None and mine < theirs


def _reuse_time(
    obj: RevisionObject, r: int, after: datetime | None, before: datetime | None, timing: Timing
) -> tuple[datetime | None, str]:
    def inside(t: datetime) -> bool:
        return (after is None or t >= after) and (before is None or t <= before)

    scaled = [t for t in timing.scale_ups.get(obj.name, ()) if inside(t)]
    if scaled:
        return min(scaled), "ScalingReplicaSet event"
    if timing.progressing is not None and timing.current in (None, r) and obj.current == r:
        name, when = timing.progressing
        if name == obj.name and inside(when):
            return when, "Progressing condition lastUpdateTime (the rollout's last progress)"
    if obj.updated is not None and obj.current == r and inside(obj.updated):
        return obj.updated, "ControllerRevision last update (managedFields)"
    return None, "unknown"


# ---- describing a change ----------------------------------------------------------------------


def _annotations(template: Mapping[str, Any]) -> Mapping[str, str]:
    return (template.get("metadata") or {}).get("annotations") or {}


def _containers(template: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    spec = template.get("spec") or {}
    return [(str(c.get("name") or ""), str(c.get("image") or "")) for c in spec.get(key) or [] if isinstance(c, dict)]


def split_image(ref: str) -> tuple[str, str]:
    """`registry:5000/team/payments:v2.14.0` -> (`registry:5000/team/payments`, `v2.14.0`)."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, "@" + digest
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def _image_changes(old: RevisionObject, new: RevisionObject) -> list[tuple[str, str | None, str | None]]:
    """(container, old image, new image) for every container whose image differs."""
    out: list[tuple[str, str | None, str | None]] = []
    for key, label in (("containers", ""), ("initContainers", "init:")):
        a = dict(_containers(old.template, key))
        b = dict(_containers(new.template, key))
        for name in [*b, *(n for n in a if n not in b)]:
            if a.get(name) != b.get(name):
                out.append((label + name, a.get(name), b.get(name)))
    return out


def _describe_images(changes: list[tuple[str, str | None, str | None]]) -> tuple[str, str]:
    """("image payments:v2.13.2 -> payments:v2.14.0", "image v2.13.2 -> v2.14.0")."""
    long, short = [], []
    for container, old, new in changes:
        if old is None:
            long.append(f"container {container} added ({new})")
            short.append(f"container {container} added ({new})")
            continue
        if new is None:
            long.append(f"container {container} removed (was {old})")
            short.append(f"container {container} removed")
            continue
        long.append(f"{old} -> {new}")
        (repo_a, tag_a), (repo_b, tag_b) = split_image(old), split_image(new)
        brief = f"{tag_a} -> {tag_b}" if repo_a == repo_b else f"{old} -> {new}"
        short.append(brief if len(changes) == 1 else f"{container} {brief}")
    plain = [c for c in changes if c[1] is not None and c[2] is not None]
    word = "image" if len(changes) == 1 else "images"
    if len(plain) == len(changes):
        return f"{word} {', '.join(long)}", f"{word} {', '.join(short)}"
    return ", ".join(long), ", ".join(short)


def template_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """The template fields that differ, images and the restart annotation left out:
    `containers.payments.env`, `volumes`, `annotations.prometheus.io/scrape`."""
    out: list[str] = []
    for key in ("labels", "annotations"):
        a = dict((old.get("metadata") or {}).get(key) or {})
        b = dict((new.get("metadata") or {}).get(key) or {})
        for k in sorted(set(a) | set(b)):
            if k != RESTARTED_AT and a.get(k) != b.get(k):
                out.append(f"{key}.{k}")
    spec_a, spec_b = old.get("spec") or {}, new.get("spec") or {}
    for key in sorted(set(spec_a) | set(spec_b)):
        if key in ("containers", "initContainers", "ephemeralContainers"):
            a = {c.get("name"): c for c in spec_a.get(key) or [] if isinstance(c, dict)}
            b = {c.get("name"): c for c in spec_b.get(key) or [] if isinstance(c, dict)}
            for name in [*b, *(n for n in a if n not in b)]:
                if name not in a or name not in b:
                    continue  # an added or removed container is an image change
                for f in sorted(set(a[name]) | set(b[name])):
                    if f != "image" and a[name].get(f) != b[name].get(f):
                        out.append(f"{key}.{name}.{f}")
        elif spec_a.get(key) != spec_b.get(key):
            out.append(key)
    return tuple(out)


def _compare(prev: RevisionObject | None, obj: RevisionObject) -> tuple[str, str, str, tuple[str, ...], bool]:
    """(kind, change, short, changed fields, restart) of a new revision against the one before."""
    if prev is None:
        listed = ", ".join(obj.images) or "no containers"
        return "deploy", f"deployed {listed}", f"deployed {listed}", (), False
    images = _image_changes(prev, obj)
    if images:
        change, short = _describe_images(images)
        return "deploy", change, short, (), False
    changed = template_changes(prev.template, obj.template)
    if not changed:
        before = _annotations(prev.template).get(RESTARTED_AT)
        after = _annotations(obj.template).get(RESTARTED_AT)
        if after and after != before:
            text = f"restarted (kubectl rollout restart at {after})"
            return "deploy", text, "restarted (kubectl rollout restart)", (), True
        return "config_change", "env/config changed", "env/config changed", (), False
    listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return "config_change", f"env/config changed: {listed}", f"env/config changed ({listed})", changed, False


def _rollback_text(back_to: int | None, prev: RevisionObject | None, obj: RevisionObject) -> tuple[str, str]:
    head = f"rolled back to revision {back_to}" if back_to is not None else "rolled back to an earlier revision"
    if prev is None:
        return head, head
    images = _image_changes(prev, obj)
    if images:
        change, short = _describe_images(images)
        return f"{head}: {change}", f"{head}: {short}"
    return head, head
