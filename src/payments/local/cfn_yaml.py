"""Read CloudFormation / SAM YAML templates into plain dicts.

CloudFormation's short-form tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`, ...) become their long form
(`{"Ref": ...}`, `{"Fn::Sub": ...}`, `{"Fn::GetAtt": [resource, attribute]}`, ...), so the result is
the same structure the JSON form of the template would give.

Two departures from plain YAML follow CloudFormation's own parser: unquoted dates such as
`2012-10-17` stay strings (YAML 1.1 would make them `datetime.date`), and a mapping with a duplicate
key is an error instead of the last value silently winning.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TemplateError", "load_template", "parse_template"]

# Tags whose long form is `{"Fn::<Name>": value}`.
_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "ForEach",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


class TemplateError(ValueError):
    """The template is not valid YAML, or not a mapping at its top level."""


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that knows CloudFormation's short-form tags."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# CloudFormation reads `2012-10-17` as a string; YAML 1.1's timestamp resolver would not.
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _value(loader: _TemplateLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(
        None, None, f"unexpected node {type(node).__name__}", node.start_mark
    )


def _fn(name: str) -> Callable[[_TemplateLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _value(loader, node)}

    return construct


def _get_att(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
    value = _value(loader, node)
    if isinstance(value, str):
        # Only the first dot separates the resource; attributes such as `Endpoint.Address` keep theirs.
        resource, _, attribute = value.partition(".")
        if not resource or not attribute:
            raise yaml.constructor.ConstructorError(
                None, None, f"!GetAtt needs Resource.Attribute, got {value!r}", node.start_mark
            )
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


_TemplateLoader.add_constructor("!Ref", _fn("Ref"))
_TemplateLoader.add_constructor("!Condition", _fn("Condition"))
_TemplateLoader.add_constructor("!GetAtt", _get_att)
for _name in _FN_TAGS:
    _TemplateLoader.add_constructor(f"!{_name}", _fn(f"Fn::{_name}"))


def parse_template(text: str, *, source: str = "<string>") -> dict[str, Any]:
    """Parse template text; `source` names it in error messages."""
    try:
        document = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(f"{source}: a template must be a mapping, got {type(document).__name__}")
    return document


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the template at `path` into a dict with every short-form tag in its long form."""
    file = Path(path)
    return parse_template(file.read_text(encoding="utf-8"), source=str(file))
