"""Where per-group resources go: in the stack itself, or in nested stacks when asked to.

CloudFormation allows 500 resources per stack (CloudFormation quotas), and a nested stack counts as
one resource of its parent. Per-group resources (scaling alarms, sale-phase schedules, forecast
schedules and staleness alarms, group dashboards) grow with the config; the rest of the stack (about
a hundred resources: Lambdas, queues, topics, watch alarms) does not. So:

- `flat`: everything in the stack, exactly as before nested stacks existed (same logical ids);
- `nested`: each group's resources in one of `-c surgeguard_shards` nested stacks (default SHARD_COUNT,
  16), chosen by a hash of the group name: a group's shard never depends on the other groups, so adding
  or removing a group never moves another group's alarms between stacks (a move would create the alarm
  in its new stack before deleting it from the old one, under the same name: a conflict other tools
  sharding alarms across stacks ran into, justeattakeaway/AwsWatchman issue 222 and pull request 255).
  The count is chosen when a deployment is first made (kept in cdk.json's context). At 16 every group
  is where it always was (sha256 % 16); a larger count grows from there one shard at a time, each new
  shard taking about 1 in (its number + 1) of the groups from all the others (jump consistent hashing,
  Lamping and Veach 2014, started from 16 shards): going from 16 to N moves only (N - 16) / N of the
  groups, each into a new stack, none between the existing ones.
- `auto` (default): flat while the estimate stays under PARENT_BUDGET; beyond it the synth FAILS and
  asks for a choice. It never switches to nested by itself: adding one group would move every
  group's fixed-name alarms into nested stacks, the conflict above, which CloudFormation cannot
  do in one update. A new deployment that large synthesizes with `-c surgeguard_layout=nested`; an
  existing flat one moves to nested as a stack of a new name (the alarm prefix) replacing the old one,
  or is destroyed and redeployed nested; one already nested (by an `auto` that still switched) passes
  `nested`, and nothing moves.

`check_resource_limits` counts what was really built, per stack, and fails the synth before a deploy
would: the estimate only decides whether `auto` may stay flat. Template bytes (CloudFormation's 1 MB
template body) are only known once written: `template_size.TemplateSizeCheck` measures every template
after the synth and fails it, with the shard count that would fit (`count_that_fits`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from aws_cdk import CfnResource, NestedStack, Stack
from constructs import Construct

from infra.constructs.sale_schedules import sale_phases
from surgeguard.config import GroupConfig, ScalerConfig

RESOURCE_LIMIT = 500  # the most one template may declare, CloudFormation quotas
PARENT_BUDGET = 450  # `auto`: flat while the whole stack is estimated under this, else synth fails
SHARD_BUDGET = 450  # the estimate per nested stack; beyond it synth fails (more shards, -c surgeguard_shards)
SHARD_COUNT = 16  # nested stacks unless `-c surgeguard_shards=N` says otherwise
SHARDS_CONTEXT = "surgeguard_shards"
HASH_BASE = 16  # frozen: sha256 % 16 is where every group of a nested deployment has been; growth starts here
MAX_SHARDS = 400  # each nested stack is one resource of the parent, which holds about 80 of its own
FIXED_ESTIMATE = 80  # the stack without per-group resources, every feature on: 61 measured, plus shards
LAYOUTS = ("auto", "flat", "nested")
GROUPS_PER_DASHBOARD = 25  # mirrors dashboard.GROUPS_PER_DASHBOARD (one dashboard resource each)

GroupScope = Callable[[str], Construct]


def _moves_to_new_shard(group_name: str, count: int) -> bool:
    """Whether growing from `count` to `count + 1` shards moves this group into the new shard `count`:
    about 1 in count + 1 of the groups (a hash of the name and the count), from every shard alike."""
    draw = int.from_bytes(hashlib.sha256(f"{count}/{group_name}".encode()).digest()[:8], "big")
    return draw % (count + 1) == 0


@functools.lru_cache(maxsize=65536)
def shard_of(group_name: str, count: int = SHARD_COUNT) -> int:
    """The group's nested stack among `count`: sha256 % count up to 16 (at 16, where it always was),
    then grown one shard at a time from 16, so that a group only ever moves into a new shard."""
    base = int(hashlib.sha256(group_name.encode()).hexdigest(), 16)
    if count <= HASH_BASE:
        return base % count
    shard = base % HASH_BASE
    for grown in range(HASH_BASE, count):
        if _moves_to_new_shard(group_name, grown):
            shard = grown
    return shard


def placements(
    names: Sequence[str], start: int, stop: int = MAX_SHARDS
) -> Iterator[tuple[int, dict[str, int]]]:
    """(count, each name's shard) for count = start .. stop, grown incrementally past 16."""
    where = {name: shard_of(name, start) for name in names}
    count = start
    while count <= stop:
        yield count, where
        if count < HASH_BASE:
            where = {name: shard_of(name, count + 1) for name in names}
        else:
            where = {name: count if _moves_to_new_shard(name, count) else s for name, s in where.items()}
        count += 1


def shard_count(scope: Construct) -> int:
    """Nested stacks to spread the groups over: `-c surgeguard_shards=N`, else SHARD_COUNT."""
    value = scope.node.try_get_context(SHARDS_CONTEXT)
    if value is None:
        return SHARD_COUNT
    if isinstance(value, bool) or not str(value).isdigit() or not 1 <= int(str(value)) <= MAX_SHARDS:
        raise ValueError(
            f"-c {SHARDS_CONTEXT}={value!r} is not a number of nested stacks from 1 to {MAX_SHARDS}"
        )
    return int(str(value))


def shard_resources(groups: Sequence[GroupConfig], per_group: Mapping[str, int]) -> int:
    """A nested stack's estimated resources: its groups' and one group dashboard per 25 groups."""
    return sum(per_group[g.name] for g in groups) + len(groups) // GROUPS_PER_DASHBOARD + 1


def more_shards_advice(count: int, needed: int | None, moved: Sequence[str], total: int) -> str:
    """What to do when `count` nested stacks cannot hold the groups: the setting, and its cost."""
    if needed is None:
        return (
            f"no count up to {MAX_SHARDS} nested stacks fits (one group too large for a nested stack?); "
            "split the config into stacks of different names (-c config=... -c stack_name=...)"
        )
    examples = ", ".join(n if len(n) <= 40 else n[:39] + "…" for n in moved[:3]) + (
        ", ..." if len(moved) > 3 else ""
    )
    return (
        f"spread the groups over more nested stacks: -c {SHARDS_CONTEXT}={needed} (the fewest at which "
        f"every nested stack fits), and keep it in cdk.json's context, since every later synth must use "
        f"the same count. A new deployment may choose any count. An existing one deployed at {count} keeps "
        f"every group where it is only at {count}: {needed} moves {len(moved)} of its {total} groups "
        f"({examples}) into the new nested stacks (none between the existing ones), and CloudFormation "
        "cannot move a named alarm in one update (it creates it in its new stack before deleting it from "
        "the old). Deploy those groups' removal first (the config without them, at the old count), then "
        f"the config with them at {needed}; or deploy as a stack of a new name (-c stack_name=..., the "
        "alarm prefix) replacing the old one"
    )


def group_resources(group: GroupConfig, pending_phases: int) -> int:
    """Scaling alarms (two per signal, one per composite), pending sale-phase schedules, and with a
    forecast its schedule and its staleness alarm."""
    alarms = 2 * len(group.signals) + len(group.composites)
    return alarms + pending_phases + (2 if group.forecast else 0)


def estimate(config: ScalerConfig, pending: dict[str, int]) -> dict[str, int]:
    return {g.name: group_resources(g, pending.get(g.name, 0)) for g in config.groups}


def auto_over_budget(total: int) -> str:
    """Why `auto` stops: the choice it will not make by itself, and how to make it."""
    return (
        f"the stack is estimated at about {total} resources, over the {PARENT_BUDGET} that the default "
        "`auto` layout keeps in one stack; `auto` does not move per-group resources into nested stacks "
        "by itself, since that moves every group's fixed-name alarms, which CloudFormation cannot do in "
        "one update (it creates each alarm in its new stack before deleting the old one under the same "
        "name). Choose the layout: a new deployment, or one already in nested stacks, synthesizes with "
        "`-c surgeguard_layout=nested`; an existing flat deployment moves to nested as a stack of a new "
        "name (`-c stack_name=...`, which is the alarm prefix) replacing the old one, or is destroyed and "
        "redeployed nested; `-c surgeguard_layout=flat` keeps one stack while it stays under "
        f"CloudFormation's {RESOURCE_LIMIT} resources."
    )


class GroupPlacement:
    """Gives each kind of per-group resource its scope for a group: None (the caller's own default)
    when flat, else a scope inside the group's nested stack."""

    def __init__(self, stack: Stack, config: ScalerConfig, pending: dict[str, int], layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"surgeguard_layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        self.stack = stack
        self.per_group = estimate(config, pending)
        total = FIXED_ESTIMATE + sum(self.per_group.values()) + len(config.groups) // GROUPS_PER_DASHBOARD + 1
        if layout == "auto" and total > PARENT_BUDGET:
            raise ValueError(auto_over_budget(total))
        self.nested = layout == "nested"
        self.groups = list(config.groups)
        self.count = shard_count(stack) if self.nested else SHARD_COUNT
        self.where: dict[str, int] = {}
        self.shard_groups: dict[int, list[GroupConfig]] = {}
        if self.nested:
            self.where = {group.name: shard_of(group.name, self.count) for group in config.groups}
            for group in config.groups:
                self.shard_groups.setdefault(self.where[group.name], []).append(group)
            for shard, groups in sorted(self.shard_groups.items()):
                size = self.resources_of(groups)
                if size > SHARD_BUDGET:
                    raise ValueError(
                        f"nested stack {shard} of {self.count} would hold about {size} resources (budget "
                        f"{SHARD_BUDGET}, CloudFormation allows {RESOURCE_LIMIT}); " + self.advice()
                    )
        self.shards: dict[int, NestedStack] = {}
        self._kinds: dict[tuple[int, str], Construct] = {}

    def resources_of(self, groups: Sequence[GroupConfig]) -> int:
        return shard_resources(groups, self.per_group)

    def count_that_fits(
        self, group_bytes: Mapping[str, float] | None = None, byte_budget: float = 0
    ) -> int | None:
        """The fewest nested stacks, more than now, at which every one is under SHARD_BUDGET resources
        (and, given each group's template bytes, under `byte_budget` bytes); None up to MAX_SHARDS."""
        by_name = {g.name: g for g in self.groups}
        for count, where in placements(list(by_name), self.count + 1):
            shards: dict[int, list[GroupConfig]] = {}
            for name, shard in where.items():
                shards.setdefault(shard, []).append(by_name[name])
            if all(self.resources_of(groups) <= SHARD_BUDGET for groups in shards.values()) and (
                group_bytes is None
                or all(sum(group_bytes[g.name] for g in groups) <= byte_budget for groups in shards.values())
            ):
                return count
        return None

    def advice(self, group_bytes: Mapping[str, float] | None = None, byte_budget: float = 0) -> str:
        needed = self.count_that_fits(group_bytes, byte_budget)
        moved = [] if needed is None else [n for n in self.where if shard_of(n, needed) != self.where[n]]
        return more_shards_advice(self.count, needed, moved, len(self.groups))

    def shard(self, number: int) -> NestedStack:
        if number not in self.shards:
            self.shards[number] = NestedStack(
                self.stack,
                f"Groups{number:02d}",
                description=f"Surgeguard {self.stack.stack_name}: per-group resources, shard {number}",
            )
        return self.shards[number]

    def subsets(self, config: ScalerConfig) -> Iterable[tuple[NestedStack, ScalerConfig]]:
        """Each shard with the config restricted to its groups (for constructs built per config)."""
        for number, groups in sorted(self.shard_groups.items()):
            yield self.shard(number), config.model_copy(update={"groups": groups})

    def group_scope(self, kind: str) -> GroupScope | None:
        if not self.nested:
            return None

        def scope(group_name: str) -> Construct:
            number = self.where[group_name]
            key = (number, kind)
            if key not in self._kinds:
                self._kinds[key] = Construct(self.shard(number), kind)
            holder = self._kinds[key]
            existing = holder.node.try_find_child(group_name)
            return existing if isinstance(existing, Construct) else Construct(holder, group_name)

        return scope


def pending_phase_counts(config: ScalerConfig, now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for phase in sale_phases(config, now)[0]:
        counts[phase.group] = counts.get(phase.group, 0) + 1
    return counts


def resource_counts(stacks: Sequence[Stack]) -> dict[str, int]:
    """CloudFormation resources each stack's template will hold (a nested stack is one of its parent's)."""
    counts = {stack.node.path: 0 for stack in stacks}
    for stack in stacks:
        for child in stack.node.find_all():
            if isinstance(child, CfnResource) and Stack.of(child) is stack:
                counts[stack.node.path] += 1
    return counts


def check_resource_limits(stack: Stack, nested: Iterable[NestedStack]) -> dict[str, int]:
    nested = list(nested)
    counts = resource_counts([stack, *nested])
    # The quota is a maximum a template may declare: exactly RESOURCE_LIMIT deploys.
    over = {path: count for path, count in counts.items() if count > RESOURCE_LIMIT}
    if over:
        # Nested already, the stack itself can still fill up: with what stays in it whatever the
        # layout, its email subscriptions (one per address, two for one heard only by its groups).
        advice = (
            "the per-group resources are nested already, so the stack's own are too many: fewer "
            "notify_emails addresses (each address is an email subscription, one heard only by its "
            "groups two)"
            if nested and stack.node.path in over
            else "synthesize with -c surgeguard_layout=nested"
        )
        raise ValueError(f"stacks over CloudFormation's {RESOURCE_LIMIT} resources: {over}; {advice}")
    return counts
