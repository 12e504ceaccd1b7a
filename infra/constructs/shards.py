"""Where per-group resources go: in the stack itself, or in nested stacks when asked to.

CloudFormation allows 500 resources per stack (CloudFormation quotas), and a nested stack counts as
one resource of its parent. Per-group resources (scaling alarms, sale-phase schedules, forecast
schedules and staleness alarms, group dashboards) grow with the config; the rest of the stack (about
a hundred resources: Lambdas, queues, topics, watch alarms) does not. So:

- `flat`: everything in the stack, exactly as before nested stacks existed (same logical ids);
- `nested`: each group's resources in one of SHARD_COUNT nested stacks, chosen by a hash of the group
  name: a group's shard never depends on the other groups, so adding or removing a group never moves
  another group's alarms between stacks (a move would create the alarm in its new stack before
  deleting it from the old one, under the same name: a conflict other tools sharding alarms across
  stacks ran into, justeattakeaway/AwsWatchman issue 222 and pull request 255).
- `auto` (default): flat while the estimate stays under PARENT_BUDGET; beyond it the synth FAILS and
  asks for a choice. It never switches to nested by itself: adding one group would move every
  group's fixed-name alarms into nested stacks, the conflict above, which CloudFormation cannot
  do in one update. A new deployment that large synthesizes with `-c surgeguard_layout=nested`; an
  existing flat one moves to nested as a stack of a new name (the alarm prefix) replacing the old one,
  or is destroyed and redeployed nested; one already nested (by an `auto` that still switched) passes
  `nested`, and nothing moves.

`check_resource_limits` counts what was really built, per stack, and fails the synth before a deploy
would: the estimate only decides whether `auto` may stay flat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from aws_cdk import CfnResource, NestedStack, Stack
from constructs import Construct

from infra.constructs.sale_schedules import sale_phases
from surgeguard.config import GroupConfig, ScalerConfig

RESOURCE_LIMIT = 500  # per template, CloudFormation quotas
PARENT_BUDGET = 450  # `auto`: flat while the whole stack is estimated under this, else synth fails
SHARD_BUDGET = 450  # the estimate per nested stack; beyond it synth fails (raise SHARD_COUNT)
SHARD_COUNT = 16
FIXED_ESTIMATE = 80  # the stack without per-group resources, every feature on: 61 measured, plus shards
LAYOUTS = ("auto", "flat", "nested")
GROUPS_PER_DASHBOARD = 25  # mirrors dashboard.GROUPS_PER_DASHBOARD (one dashboard resource each)

GroupScope = Callable[[str], Construct]


def shard_of(group_name: str, count: int = SHARD_COUNT) -> int:
    return int(hashlib.sha256(group_name.encode()).hexdigest(), 16) % count


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
        self.shard_groups: dict[int, list[GroupConfig]] = {}
        if self.nested:
            for group in config.groups:
                self.shard_groups.setdefault(shard_of(group.name), []).append(group)
            for shard, groups in sorted(self.shard_groups.items()):
                size = sum(self.per_group[g.name] for g in groups) + len(groups) // GROUPS_PER_DASHBOARD + 1
                if size > SHARD_BUDGET:
                    raise ValueError(
                        f"nested stack {shard} would hold about {size} resources (budget {SHARD_BUDGET}); "
                        "raise infra.constructs.shards.SHARD_COUNT"
                    )
        self.shards: dict[int, NestedStack] = {}
        self._kinds: dict[tuple[int, str], Construct] = {}

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
            number = shard_of(group_name)
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
    over = {path: count for path, count in counts.items() if count >= RESOURCE_LIMIT}
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
        raise ValueError(f"stacks at or over CloudFormation's {RESOURCE_LIMIT} resources: {over}; {advice}")
    return counts
