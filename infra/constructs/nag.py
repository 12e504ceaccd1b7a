"""cdk-nag 3 finding ids for resources we must name in an acknowledgment.

cdk-nag renders a resource that is a token (Fn::Join with Ref/GetAtt) as text with `<AWS::Region>`
style placeholders, and an acknowledgment must match that text exactly (no prefix match). Computing
the id from the same token keeps the acknowledgment exact for both env-agnostic and pinned synths.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import IConstruct


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(_render(part) for part in parts)
    raise ValueError(f"cannot render {value!r} the way cdk-nag does")


def resource_finding(scope: IConstruct, rule: str, resource: str) -> str:
    """`rule[Resource::<rendered resource>]`, e.g. `AwsSolutions-IAM5[Resource::arn:...:alarm:X/*]`."""
    return f"{rule}[Resource::{_render(Stack.of(scope).resolve(resource))}]"
