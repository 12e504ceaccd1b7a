"""One construct per capability; the stack only wires them together."""

from infra.constructs.alarms import ScalingAlarms
from infra.constructs.audit_table import AuditTable
from infra.constructs.concurrency import reserve_concurrency
from infra.constructs.dashboard import GroupDashboards, OverviewDashboard
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.forecaster import Forecaster
from infra.constructs.lambda_code import scaler_code
from infra.constructs.monitoring import Watch, WatchedFunction, WatchedQueue
from infra.constructs.reactive_function import ReactiveFunction
from infra.constructs.reevaluation import Reevaluation
from infra.constructs.sale_schedules import SaleSchedules
from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.shards import GroupPlacement, check_resource_limits, pending_phase_counts
from infra.constructs.topics import ScalerTopics

__all__ = [
    "AuditTable",
    "DeadLetterQueue",
    "Forecaster",
    "GroupDashboards",
    "GroupPlacement",
    "OverviewDashboard",
    "ReactiveFunction",
    "Reevaluation",
    "SaleSchedules",
    "ScalerFunction",
    "ScalerTopics",
    "ScalingAlarms",
    "Watch",
    "WatchedFunction",
    "WatchedQueue",
    "check_resource_limits",
    "pending_phase_counts",
    "reserve_concurrency",
    "scaler_code",
]
