"""Whether a synthesized role's identity policies allow an AWS request: the part of IAM's policy
evaluation the stack's policies use (Allow and Deny; Action and Resource with `*` and `?`; the condition
operators below, with IfExists and the ForAllValues/ForAnyValue qualifiers), and no more.

Anything outside that part (NotAction, NotResource, an operator not listed, an intrinsic function the
template resolver does not know, a managed policy whose document is not in the template) raises
`Unsupported` rather than being read as allowed or denied: a checker that guessed would pass a role
that fails on AWS, which is what it exists to catch.

CloudFormation values are resolved to strings: pseudo parameters to the pinned region and account,
`{"Ref": X}` to `{X}` and `{"Fn::GetAtt": [X, A]}` to `{X.A}`, so a resource the call names and the one
a statement grants compare as the same symbol when they are the same template resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any


class Unsupported(ValueError):  # noqa: N818 - what it says: this checker cannot judge that policy
    """A policy, or a template value, beyond what this checker evaluates."""


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call: the action, the resource and the request's condition keys
    (each with its values; a key absent here is absent from the request)."""

    action: str  # "autoscaling:SetDesiredCapacity"
    resource: str  # an ARN, or "*" for an action without a resource type
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = ", ".join(f"{k}={list(v)}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}" + (f" [{keys}]" if keys else "")


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    sid: str = ""

    def applies_to(self, request: Request) -> bool:
        return (
            any(_wildcard(pattern, ignore_case=True).fullmatch(request.action) for pattern in self.actions)
            and any(_wildcard(pattern).fullmatch(request.resource) for pattern in self.resources)
            and all(
                _condition_holds(operator, key, values, request.context)
                for operator, entries in self.conditions.items()
                for key, values in entries.items()
            )
        )

    @staticmethod
    def parse(document: Mapping[str, Any], resolve: Any = str, sid: str = "") -> Statement:
        """A policy document's statement, its CloudFormation values resolved by `resolve`."""
        unsupported = sorted({"NotAction", "NotResource", "NotPrincipal"} & set(document))
        if unsupported:
            raise Unsupported(f"statement {document.get('Sid', sid)!r} uses {unsupported}")
        conditions = {
            operator: {key: tuple(map(resolve, _listed(values))) for key, values in entries.items()}
            for operator, entries in (document.get("Condition") or {}).items()
        }
        return Statement(
            effect=str(document["Effect"]),
            actions=tuple(map(resolve, _listed(document["Action"]))),
            resources=tuple(map(resolve, _listed(document["Resource"]))),
            conditions=conditions,
            sid=str(document.get("Sid", sid)),
        )


def decide(statements: Iterable[Statement], request: Request) -> str | None:
    """None when the statements allow `request` (an Allow applies and no Deny does); else why not."""
    applying = [s for s in statements if s.applies_to(request)]
    denied = [s.sid or "(no sid)" for s in applying if s.effect == "Deny"]
    if denied:
        return f"denied by {denied}"
    if not any(s.effect == "Allow" for s in applying):
        return "no statement allows it"
    return None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


@cache
def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM's `*` (any run of characters, `:` and `/` too) and `?` (one character); case-insensitive
    for actions, case-sensitive for ARNs."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(operator: str, wanted: str, actual: str) -> bool:
    if operator == "StringEquals":
        return actual == wanted
    if operator == "StringLike":
        return _wildcard(wanted).fullmatch(actual) is not None
    if operator == "NumericLessThanEquals":
        return float(actual) <= float(wanted)
    if operator == "NumericGreaterThanEquals":
        return float(actual) >= float(wanted)
    if operator == "NumericEquals":
        return float(actual) == float(wanted)
    if operator == "ArnLike":
        return _wildcard(wanted).fullmatch(actual) is not None
    raise Unsupported(f"condition operator {operator!r}")


def _condition_holds(
    operator: str, key: str, wanted: Sequence[str], context: Mapping[str, tuple[str, ...]]
) -> bool:
    """One condition entry, as IAM evaluates it: any of its values may match (OR); a key absent from
    the request fails the entry unless it is tested with Null, IfExists or ForAllValues."""
    present = {k.lower(): v for k, v in context.items()}.get(key.lower())
    if operator == "Null":
        (expected,) = wanted
        return (present is None) == (expected.lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if present is None:
        return if_exists or qualifier == "ForAllValues"
    if qualifier == "ForAllValues":
        return all(any(_matches(base, w, value) for w in wanted) for value in present)
    if qualifier == "ForAnyValue":
        return any(_matches(base, w, value) for w in wanted for value in present)
    if qualifier:
        raise Unsupported(f"condition qualifier {qualifier!r}")
    if len(present) != 1:
        raise Unsupported(f"single-valued operator {operator} on multivalued key {key}")
    return any(_matches(base, w, present[0]) for w in wanted)


class TemplateValues:
    """Resolves a synthesized template's values to strings (see the module docstring)."""

    def __init__(self, template: Mapping[str, Any], *, region: str, account: str) -> None:
        self.resources: Mapping[str, Any] = template["Resources"]
        self._pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def __call__(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self._pseudo.get(argument, f"{{{argument}}}")
            if function == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return f"{{{name}.{attribute}}}"
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(self(part) for part in parts)
        raise Unsupported(f"template value {value!r}")

    def role_statements(self, role: str) -> list[Statement]:
        """Every statement of role `role`'s identity policies: inline, and policies attached by
        AWS::IAM::Policy or AWS::IAM::ManagedPolicy resources of the template."""
        role_properties = self.resources[role]["Properties"]
        if role_properties.get("PermissionsBoundary"):
            raise Unsupported(f"role {role} has a permissions boundary")
        documents = [p["PolicyDocument"] for p in role_properties.get("Policies", [])]
        for arn in role_properties.get("ManagedPolicyArns", []):
            policy = self.resources.get(arn.get("Ref", "")) if isinstance(arn, dict) else None
            if policy is None or policy["Type"] != "AWS::IAM::ManagedPolicy":
                raise Unsupported(f"role {role}: managed policy {arn!r} is not in the template")
            documents.append(policy["Properties"]["PolicyDocument"])
        for name, resource in self.resources.items():
            attached = resource.get("Properties", {}).get("Roles", [])
            # A managed policy that lists the role and is listed by it counts once.
            listed = {"Ref": name} in role_properties.get("ManagedPolicyArns", [])
            policy = resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
            if policy and {"Ref": role} in attached and not listed:
                documents.append(resource["Properties"]["PolicyDocument"])
        return [
            Statement.parse(statement, self, sid=f"#{index}")
            for document in documents
            for index, statement in enumerate(document["Statement"])
        ]
