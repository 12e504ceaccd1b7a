"""The CloudWatch alarms that trigger scaling, one per AlarmSpec, named exactly as the spec says.

Names are physical on purpose: the Lambda maps an alarm name back to group, rule and direction with
the same `ScalerConfig.alarms(prefix)`, and the prefix (the stack name) keeps stacks apart.
Alarms act on ALARM only (a transition into ALARM is the trigger; recovery needs no Lambda). A breach
that lasts sends nothing new: the per-minute re-evaluation (reevaluation.py) hears it instead.
Period, M of N, missing data and low-sample percentiles come from `surgeguard.alarm_shape`, so that each
alarm's metric really arrives (basic monitoring, zero traffic, metrics collection; see there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk.region_info import RegionInfo
from constructs import Construct

from surgeguard.alarm_shape import TreatMissing, alarm_shape
from surgeguard.config import AlarmSpec, Direction, GroupConfig, ScalerConfig
from surgeguard.domain.triggers import safe_text
from surgeguard.signals import SignalMetric, alarm_threshold, signal_metric

TREAT_MISSING = {
    TreatMissing.BREACHING: cw.TreatMissingData.BREACHING,
    TreatMissing.NOT_BREACHING: cw.TreatMissingData.NOT_BREACHING,
    TreatMissing.IGNORE: cw.TreatMissingData.IGNORE,
    TreatMissing.MISSING: cw.TreatMissingData.MISSING,
}
COMPARISON = {
    Direction.OUT: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    Direction.IN: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
}


def signal_metric_construct(signal: SignalMetric, period: Duration) -> cw.IMetric:
    """The CDK metric (or metric math) of a signal's value; alarms and dashboards read the same one."""
    metrics = {
        stat.id: cw.Metric(
            namespace=stat.namespace,
            metric_name=stat.metric_name,
            dimensions_map=dict(stat.dimensions),
            statistic=stat.statistic,
            period=period,
        )
        for stat in signal.stats
    }
    if signal.expression is None:
        (only,) = metrics.values()
        return only
    return cw.MathExpression(
        expression=signal.expression, using_metrics=metrics, period=period, label=signal.signal_id
    )


# AlarmDescription: 0-1024 characters (PutCompositeAlarm, PutMetricAlarm). A composite's names its
# members' full alarm names, which a long group name and four signals take past it (a failed deploy).
ALARM_DESCRIPTION_LIMIT = 1024


# AlarmRule: 1-10,240 characters (PutCompositeAlarm). CDK writes an all_of rule as
# (ALARM("<arn>") AND ALARM("<arn>") ...), each child by the ARN CloudFormation gives its alarm.
ALARM_RULE_LIMIT = 10_240
ACCOUNT_ID_LENGTH = 12


def alarm_arn_prefix_length(stack: Stack) -> int:
    """The length of `arn:<partition>:cloudwatch:<region>:<account>:alarm:` as the deploy will write it:
    in the stack's region where the synth knows it, else in the longest region CDK knows (with its
    partition), so that a rule that fits here fits wherever the template is deployed."""
    regions = RegionInfo.regions
    if not Token.is_unresolved(stack.region):
        known = RegionInfo.get(stack.region)
        regions = [known] if known.partition else regions
    longest = max(len(f"{r.partition}:cloudwatch:{r.name}") for r in regions)
    return len("arn:") + longest + len(":") + ACCOUNT_ID_LENGTH + len(":alarm:")


def composite_rule_length(children: Sequence[str], arn_prefix_length: int) -> int:
    """The characters of the AlarmRule CDK writes for a composite of `children` (alarm names)."""
    each = sum(len('ALARM("') + arn_prefix_length + len(name) + len('")') for name in children)
    return len("()") + each + len(" AND ") * (len(children) - 1)


def check_composite_rules(specs: Iterable[AlarmSpec], arn_prefix_length: int) -> None:
    """A rule past CloudWatch's limit passed synth and failed the deploy: said here, by group."""
    over = [
        f"group {spec.group!r}: composite {spec.rule!r} would have an AlarmRule of {length:,} characters "
        f'(ALARM("<alarm ARN>") for each of its {len(spec.composite_of)} signals)'
        for spec in specs
        if spec.composite_of
        and (length := composite_rule_length(spec.composite_of, arn_prefix_length)) > ALARM_RULE_LIMIT
    ]
    if over:
        raise ValueError(
            f"{'; '.join(over)}: CloudWatch allows {ALARM_RULE_LIMIT:,} (PutCompositeAlarm), so the deploy "
            "would fail. List fewer signals in the composite, give them shorter ids, or deploy under a "
            "shorter stack name (-c stack_name=..., the alarms' prefix)"
        )


class ScalingAlarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ScalerConfig,
        alarm_prefix: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = cw_actions.SnsAction(topic)
        self.alarms: dict[str, cw.AlarmBase] = {}
        group_scopes = {group.name: Construct(self, group.name) for group in config.groups}
        specs = list(config.alarms(alarm_prefix))
        check_composite_rules(specs, alarm_arn_prefix_length(Stack.of(self)))
        for spec in specs:
            group = config.group(spec.group)
            assert group is not None  # alarms() only yields configured groups
            alarm = (
                self._composite(group_scopes[group.name], spec)
                if spec.composite_of
                else self._metric_alarm(group_scopes[group.name], group, spec)
            )
            if spec.notifies:
                alarm.add_alarm_action(self._action)
            self.alarms[spec.name] = alarm

    @staticmethod
    def _metric_alarm(scope: Construct, group: GroupConfig, spec: AlarmSpec) -> cw.Alarm:
        signal = group.signal(spec.rule)
        assert signal is not None
        metric = signal_metric(group, signal)
        shape = alarm_shape(group, signal, spec.direction, metric.stats[0].statistic)
        threshold = alarm_threshold(signal, spec.direction)
        return cw.Alarm(
            scope,
            f"{spec.rule}-{spec.direction.value}",
            alarm_name=spec.name,
            alarm_description=(
                f"Surgeguard: scale {spec.direction.value} {group.name} on {spec.rule} "
                f"({'above' if spec.direction is Direction.OUT else 'below'} {threshold:g}, "
                f"{shape.datapoints_to_alarm} of {shape.evaluation_periods} x "
                f"{shape.period_seconds}s, missing data {shape.treat_missing_data.value})"
            ),
            metric=signal_metric_construct(metric, Duration.seconds(shape.period_seconds)),
            threshold=threshold,
            comparison_operator=COMPARISON[spec.direction],
            evaluation_periods=shape.evaluation_periods,
            datapoints_to_alarm=shape.datapoints_to_alarm,
            treat_missing_data=TREAT_MISSING[shape.treat_missing_data],
            evaluate_low_sample_count_percentile=shape.evaluate_low_sample_count_percentile,
        )

    def _composite(self, scope: Construct, spec: AlarmSpec) -> cw.CompositeAlarm:
        children = [self.alarms[name] for name in spec.composite_of]
        return cw.CompositeAlarm(
            scope,
            f"{spec.rule}-{spec.direction.value}",
            composite_alarm_name=spec.name,
            alarm_description=safe_text(
                f"Surgeguard: scale {spec.direction.value} {spec.group} when all of "
                f"{', '.join(spec.composite_of)} are in ALARM",
                ALARM_DESCRIPTION_LIMIT,
            ),
            alarm_rule=cw.AlarmRule.all_of(
                *(cw.AlarmRule.from_alarm(child, cw.AlarmState.ALARM) for child in children)
            ),
        )
