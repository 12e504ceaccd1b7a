"""An optional EC2 Auto Scaling warm pool beside the simulated group (off by default).

The semantics follow the EC2 Auto Scaling user guide, "Warm pools for Amazon EC2 Auto Scaling"
(docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html) and the PutWarmPool
API reference (docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutWarmPool.html):
- Pool size: MaxGroupPreparedCapacity minus the group's desired capacity, where an unset
  MaxGroupPreparedCapacity means the group's maximum size; never below MinSize ("If the desired
  capacity of the Auto Scaling group is higher than the MaxGroupPreparedCapacity, the capacity of the
  warm pool is 0, unless you specify a value for MinSize").
- PoolState Stopped: "With stopped instances, you pay only for the volumes that you use and the
  Elastic IP addresses attached to the instances" (user guide). The fraction of a running instance's
  price this costs is pinned in README's benchmark protocol (`stopped_cost_fraction`).
- A pool instance is launched and initialised like any instance (Warmed:Pending), then stopped
  (Warmed:Stopped). Scale-out draws on the pool first; instances that leave it count toward desired
  capacity ("warm start"); only what the pool cannot give is launched cold.
- Scale-in terminates, unless the InstanceReusePolicy says ReuseOnScaleIn, in which case the instances
  go back to the pool (API_InstanceReusePolicy.html). AWS terminates pool instances above the pool size.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass, field

from gameday.fleet import _LAUNCHED_BEFORE_TRACE, Fleet, FleetParams


@dataclass(frozen=True)
class WarmPoolConfig:
    """PutWarmPool's parameters, with PoolState Stopped (the only state the model prices)."""

    min_size: int = 0
    # None = unset: AWS then uses the group's maximum size (which a scheduled action may change).
    max_group_prepared_capacity: int | None = None
    reuse_on_scale_in: bool = False

    def __post_init__(self) -> None:
        if self.min_size < 0:
            raise ValueError("warm pool min size must be >= 0")
        if self.max_group_prepared_capacity is not None and self.max_group_prepared_capacity < 0:
            raise ValueError("max group prepared capacity must be >= 0 (or unset)")

    def pool_size(self, desired: int, max_size: int) -> int:
        """How many instances AWS keeps in the pool while the group wants `desired`."""
        prepared = max_size if self.max_group_prepared_capacity is None else self.max_group_prepared_capacity
        return max(self.min_size, prepared - desired)


@dataclass(frozen=True)
class WarmPoolParams:
    """A warm pool in the fleet model: its configuration and the numbers README's protocol pins."""

    config: WarmPoolConfig = field(default_factory=WarmPoolConfig)
    # A stopped instance costs its EBS volume only: a 20-30 GiB gp3 root volume ($0.08 per GB-month,
    # $1.60-2.40 a month, 730 hours) against an m7g.large at $0.0816 an hour is 2.7-4.0 %. 3 % here.
    stopped_cost_fraction: float = 0.03
    # Drawn from the pool at t: the instance starts from Stopped (pending, t) and passes the load
    # balancer's health checks (warming, t+1), serving from t+2. AWS quotes "as low as 30 seconds"
    # to serve; a minute to start and register and a minute of health checks is the ordinary case.
    warm_start_pending_minutes: int = 1
    warm_start_warming_minutes: int = 1
    # Whether a policy may resize the pool (PutWarmPool, as Surgeguard's forecaster does when its config
    # says so); no AWS policy does. By default every policy, Surgeguard too, has the same static pool.
    resizable: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.stopped_cost_fraction <= 1:
            raise ValueError("stopped cost fraction must lie in [0, 1]")
        if self.warm_start_pending_minutes < 0 or self.warm_start_warming_minutes < 0:
            raise ValueError("warm-start pending and warming minutes must be >= 0")

    @property
    def warm_serving_age(self) -> int:
        return self.warm_start_pending_minutes + self.warm_start_warming_minutes

    def describe(self) -> str:
        config = self.config
        prepared = (
            "the group's max"
            if config.max_group_prepared_capacity is None
            else str(config.max_group_prepared_capacity)
        )
        return (
            f"warm pool (Stopped): MaxGroupPreparedCapacity {prepared}, MinSize {config.min_size}, "
            f"ReuseOnScaleIn {'yes' if config.reuse_on_scale_in else 'no'}; a stopped instance costs "
            f"{self.stopped_cost_fraction:g} of a running one; a warm start pends "
            f"{self.warm_start_pending_minutes} min and warms {self.warm_start_warming_minutes} min; "
            + ("a policy may resize it (Surgeguard does)" if self.resizable else "no policy resizes it")
        )


class WarmPoolFleet(Fleet):
    """The group's launch cohorts plus the pool beside it.

    Each cohort also carries the minute it leaves pending, the minute it serves and the minute it is
    initialised (a warm start serves sooner than its launch minute alone says). Cohorts stay ordered
    by the minute they joined the group, so scale-in still removes the youngest first.
    """

    __slots__ = (
        "_pend_until",
        "_serve_from",
        "_ready",
        "_cold_pending",
        "_cold_serving_age",
        "_warm_pending",
        "_warm_serving_age",
        "pool_params",
        "pool_ready",
        "_pool_initialising",
        "warm_starts",
        "pool_launches",
    )

    def __init__(self, initial_size: int, params: FleetParams, pool: WarmPoolParams, max_size: int) -> None:
        super().__init__(initial_size, params)
        before = [_LAUNCHED_BEFORE_TRACE] if initial_size else []
        self._pend_until = list(before)
        self._serve_from = list(before)
        self._ready = list(before)
        self._cold_pending = params.pending_minutes
        self._cold_serving_age = params.serving_age
        self._warm_pending = pool.warm_start_pending_minutes
        self._warm_serving_age = pool.warm_serving_age
        # The engine checks the youngest cohort against this age before asking not_serving().
        self.serving_age = max(self._cold_serving_age, self._warm_serving_age)
        self.pool_params = pool
        # The group has run long before minute 0: its pool is full and stopped.
        self.pool_ready = pool.config.pool_size(initial_size, max_size)
        # [minute initialised, count], earliest first: pool instances still at full cost.
        self._pool_initialising: list[list[int]] = []
        self.warm_starts = 0
        self.pool_launches = 0

    def put_warm_pool(self, config: WarmPoolConfig) -> None:
        """PutWarmPool: the new sizes apply from the next refill (the same minute, in the engine)."""
        self.pool_params = dataclasses.replace(self.pool_params, config=config)

    @property
    def pool_initialising(self) -> int:
        return sum(count for _, count in self._pool_initialising)

    def _join(self, minute: int, count: int, pend_until: int, serve_from: int, ready: int) -> None:
        self.launch_minutes.append(minute)
        self._counts.append(count)
        self._pend_until.append(pend_until)
        self._serve_from.append(serve_from)
        self._ready.append(ready)

    def set_desired(self, desired: int, minute: int) -> None:
        """Scale out from the pool first (stopped, then still initialising), then cold; scale in youngest
        first, back into the pool if ReuseOnScaleIn."""
        if desired > self.total:
            need = desired - self.total
            warm = min(need, self.pool_ready)
            if warm:
                self.pool_ready -= warm
                self._join(minute, warm, minute + self._warm_pending, minute + self._warm_serving_age, minute)
                need -= warm
                self.warm_starts += warm
            initialising = self._pool_initialising
            while need and initialising:
                ready, count = initialising[0]
                taken = min(need, count)
                if taken == count:
                    initialising.pop(0)
                else:
                    initialising[0][1] -= taken
                # Still running its first boot: it serves once that is done, and no sooner than a warm start.
                serve_from = max(ready, minute + self._warm_serving_age)
                self._join(minute, taken, min(serve_from, minute + self._warm_pending), serve_from, ready)
                need -= taken
                self.warm_starts += taken
            if need:
                serve_from = minute + self._cold_serving_age
                self._join(minute, need, minute + self._cold_pending, serve_from, serve_from)
        else:
            to_remove = self.total - desired
            reuse = self.pool_params.config.reuse_on_scale_in
            while to_remove:
                count = self._counts[-1]
                removed = min(count, to_remove)
                if reuse:
                    self._return_to_pool(removed, self._ready[-1], minute)
                if count > removed:
                    self._counts[-1] -= removed
                    break
                to_remove -= removed
                for stack in (self.launch_minutes, self._counts, self._pend_until, self._serve_from):
                    stack.pop()
                self._ready.pop()
        self.total = desired

    def _return_to_pool(self, count: int, ready: int, minute: int) -> None:
        # An instance scaled in before its first boot finished stops only once it has (full cost until then).
        if ready <= minute:
            self.pool_ready += count
        else:
            bisect.insort(self._pool_initialising, [ready, count], key=lambda entry: entry[0])

    def refill(self, minute: int, max_size: int) -> None:
        """Once a minute after the decision: initialised instances stop, then the pool is brought to its
        size, launching fresh instances (a full launch, then stopped) or terminating the surplus."""
        initialising = self._pool_initialising
        while initialising and initialising[0][0] <= minute:
            self.pool_ready += initialising.pop(0)[1]
        target = self.pool_params.config.pool_size(self.total, max_size)
        have = self.pool_ready + self.pool_initialising
        if have < target:
            self.pool_launches += target - have
            bisect.insort(initialising, [minute + self._cold_serving_age, target - have], key=lambda e: e[0])
        elif have > target:
            surplus = have - target
            # The instances still costing full price go first.
            while surplus and initialising:
                taken = min(surplus, initialising[-1][1])
                initialising[-1][1] -= taken
                if not initialising[-1][1]:
                    initialising.pop()
                surplus -= taken
            self.pool_ready -= surplus

    def not_serving(self, minute: int) -> int:
        return self._younger_than(minute, self._serve_from)

    def pending(self, minute: int) -> int:
        return self._younger_than(minute, self._pend_until)

    def _younger_than(self, minute: int, until: list[int]) -> int:
        """Instances whose `until` minute is still ahead; only cohorts that joined within the longest
        serving age can have one."""
        oldest_counted = minute - self.serving_age
        launches, counts = self.launch_minutes, self._counts
        total = 0
        i = len(launches) - 1
        while i >= 0 and launches[i] > oldest_counted:
            if until[i] > minute:
                total += counts[i]
            i -= 1
        return total
