"""One construct per capability; the stack only wires them together."""

from infra.constructs.alarms import ScalingAlarms
from infra.constructs.audit_table import AuditTable
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.forecaster import Forecaster
from infra.constructs.lambda_code import scaler_code
from infra.constructs.reactive_function import ReactiveFunction
from infra.constructs.reevaluation import Reevaluation
from infra.constructs.sale_schedules import SaleSchedules
from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.topics import ScalerTopics

__all__ = [
    "AuditTable",
    "DeadLetterQueue",
    "Forecaster",
    "ReactiveFunction",
    "Reevaluation",
    "SaleSchedules",
    "ScalerFunction",
    "ScalerTopics",
    "ScalingAlarms",
    "scaler_code",
]
