"""`flat_dict` stands in for `dataclasses.asdict` in audit records: same dicts, no deep copy."""

from dataclasses import asdict, fields

import pytest

from surgeguard.domain.model import Candidate, Clamp, Reading, flat_dict

# datetime too: immutable, so shared with the record it harms nothing (the audit writes it as text).
PLAIN = {"str", "int", "float", "bool", "None", "datetime"}


@pytest.mark.parametrize("kind", [Reading, Candidate, Clamp])
def test_audited_value_types_hold_plain_fields_only(kind: type) -> None:
    # A container or dataclass field would be shared with the record (asdict copies it): keep them out.
    for f in fields(kind):
        assert set(str(f.type).replace(" ", "").split("|")) <= PLAIN, f"{kind.__name__}.{f.name}: {f.type}"


@pytest.mark.parametrize(
    "value",
    [
        Reading("cpu", "cpu", None, 60.0),
        Reading("req", "requests_per_target", 812.5, 1000.0),
        Candidate("cpu", 71.2, 60.0, 4, 5, note="rounded up"),
        Candidate("floor:forecast", None, None, 4, 6),
        Clamp("max", 12, 10),
    ],
)
def test_flat_dict_is_asdict(value: object) -> None:
    flat = flat_dict(value)
    assert flat == asdict(value)  # type: ignore[call-overload]
    assert list(flat) == list(asdict(value))  # type: ignore[call-overload]
