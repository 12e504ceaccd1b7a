"""Our own errors for AWS failures, so the service never sees botocore."""


class AwsCallError(RuntimeError):
    """An AWS API call failed after the SDK's own retries (throttling included)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class GroupNotFoundError(LookupError):
    """The configured Auto Scaling group does not exist (or is being deleted)."""


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
