"""The one source of the audit table's key and attribute names (infra and tests import these)."""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
# A trigger's claim is kept a day (its TTL), long past its attempt and Lambda's retries of it.
CLAIM_TTL_SECONDS = 86_400

# Partition prefixes: one table holds audit records, per-group state, trigger claims and controls.
GROUP_PREFIX = "GROUP#"
TRIGGER_PREFIX = "TRIGGER#"
CONTROL_PARTITION = "CONTROL"

STATE_SORT_KEY = "STATE"
CLAIM_SORT_KEY = "CLAIM"
# Beside a trigger's claim: that people were told its attempts fail (per group), so that Lambda's
# retries of it, each failing and audited in turn, do not tell them again.
FAILURE_TOLD_SORT_PREFIX = "TOLD#FAILED#"
AUDIT_SORT_PREFIX = "AUDIT#"
# Per-group failure memory: the standing failure people were told of (its cause, since when, when they
# last heard), so that each minute's re-evaluation failing the same way does not tell them again.
FAILING_SORT_KEY = "FAILING"
# Per-group sale event items: target capacity, why, the max a temporary max replaced.
EVENT_SORT_PREFIX = "EVENT#"
GLOBAL_CONTROL_SORT_KEY = "*"
# Per-group forecast item: the forecaster's floors by step, valid until the horizon ends.
FORECAST_SORT_KEY = "FORECAST"

# Rejected triggers that name no known group are filed under this pseudo-group.
UNKNOWN_GROUP = "-"


def group_pk(group: str) -> str:
    return f"{GROUP_PREFIX}{group}"


def trigger_pk(trigger_id: str) -> str:
    return f"{TRIGGER_PREFIX}{trigger_id}"
