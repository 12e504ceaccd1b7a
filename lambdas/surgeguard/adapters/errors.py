"""Our own errors for AWS failures, so the service never sees botocore."""

# Codes a later retry can cure: throttling, capacity, timeouts and the services' own 5xx (botocore's
# standard retry mode treats these as throttled or transient). Errors without an AWS response (a socket
# timeout, a dropped connection) are transient too: the adapter says so when it wraps them.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RateExceeded",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


class AwsCallError(RuntimeError):
    """An AWS API call failed after the SDK's own retries (throttling included)."""

    def __init__(self, operation: str, code: str, message: str, *, transient: bool | None = None) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        # Could a later retry succeed? None: judged by the code alone.
        self.transient = code in TRANSIENT_CODES if transient is None else transient


class GroupNotFoundError(LookupError):
    """The configured Auto Scaling group does not exist (or is being deleted)."""


class GroupDeletingError(GroupNotFoundError):
    """The group is being deleted (Status "Delete in progress"): there, but nothing to decide for."""


class ConcurrentUpdateError(RuntimeError):
    """Another decision for the same group saved its state first."""


class DuplicateTriggerError(RuntimeError):
    """This trigger id was already claimed: completed, or another attempt holds its lease."""

    def __init__(
        self,
        trigger_id: str,
        in_progress_until: int | None = None,
        holder_record: dict[str, str] | None = None,
    ) -> None:
        super().__init__(trigger_id)
        self.trigger_id = trigger_id
        # Epoch seconds the other attempt's lease runs to; None: the trigger was completed.
        self.in_progress_until = in_progress_until
        # The key of the audit record the lease holder writes when done ({group, at, delivery_id}).
        self.holder_record = holder_record


class DamagedItemError(ValueError):
    """A stored item that no Surgeguard writes (hand-edited, or a bug): it cannot be read back.

    `version`: the state item's own version, where the item can still be overwritten under it;
    `readable`: what the rest of a multi-item read gave; `names`: the damaged items' names."""

    def __init__(
        self,
        what: str,
        detail: str,
        *,
        version: int | None = None,
        readable: tuple[object, ...] = (),
        names: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{what}: {detail}")
        self.detail = detail
        self.version = version
        self.readable = readable
        self.names = names
