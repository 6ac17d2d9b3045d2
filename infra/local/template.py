"""Read ``template.yaml`` as CloudFormation sees it: YAML short tags, SAM expanded, intrinsics resolved.

The local stack is built from the template itself, so a resource or wiring that is wrong in the
template is wrong locally too. Anything the local stack cannot reproduce stops it, named: an
unsupported resource type (see :mod:`infra.local.provision`) or an unsupported intrinsic here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class UnsupportedTemplateFeature(RuntimeError):
    """The template uses something the local stack cannot reproduce; never skipped silently."""


# --- YAML with CloudFormation's short tags --------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that turns ``!Ref x`` into ``{"Ref": x}``, ``!Sub`` into ``{"Fn::Sub": …}``…"""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """The template as a plain dict, short tags expanded to their long form."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


# --- SAM expansion --------------------------------------------------------------------------------


LOCAL_CODE_BUCKET = "mast-local-code"


def local_code_dir(code: Mapping[str, Any], root: Path) -> Path:
    """The source folder of a function's ``Code`` after :func:`expand_sam`."""
    if code.get("S3Bucket") != LOCAL_CODE_BUCKET:
        raise UnsupportedTemplateFeature(f"function code {dict(code)} is not a local folder")
    return root / str(code["S3Key"])


def expand_sam(template: dict[str, Any], parameters: Mapping[str, str], region: str) -> dict[str, Any]:
    """Expand ``AWS::Serverless`` resources into plain CloudFormation with aws-sam-translator.

    The template names managed policies by ARN, so SAM's name-to-ARN map is empty. SAM wants code
    in S3; a local ``CodeUri`` folder becomes ``s3://{LOCAL_CODE_BUCKET}/<folder>`` (as `sam
    package` would upload it), and :func:`local_code_dir` maps it back.
    """
    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        code_uri = properties.get("CodeUri")
        if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
            properties["CodeUri"] = f"s3://{LOCAL_CODE_BUCKET}/{code_uri.strip('/')}"
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    return translator.translate(
        template, parameter_values=dict(parameters), get_managed_policy_map=lambda: {}
    )


# --- Intrinsic functions --------------------------------------------------------------------------

NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass
class Resolver:
    """Resolves intrinsics against parameters, pseudo parameters, conditions and created resources.

    ``refs`` and ``attributes`` fill in as resources are created; resolving a reference to one
    not yet created is a programming error in the creation order and raises.
    """

    parameters: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _condition_values: dict[str, bool] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise UnsupportedTemplateFeature(f"condition {name!r} is not defined")
            self._condition_values[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_values[name]

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.refs:
            return self.refs[name]
        raise UnsupportedTemplateFeature(f"Ref to {name!r}, which is neither a parameter nor a created resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise UnsupportedTemplateFeature(
                f"Fn::GetAtt {logical_id}.{attribute}: the local stack does not provide that attribute"
            ) from None

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value``; ``AWS::NoValue`` removes the key or list item."""
        if isinstance(value, list):
            items = (self.resolve(v) for v in value)
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            handler = self._functions().get(key)
            if handler is not None:
                return handler(argument)
            if key.startswith("Fn::"):
                raise UnsupportedTemplateFeature(f"intrinsic {key} is not supported by the local stack")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda a: self.ref(self.resolve(a)),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": lambda a: str(a[0]).join(str(x) for x in self.resolve(a[1])),
            "Fn::If": self._fn_if,
            "Fn::Equals": lambda a: self.resolve(a[0]) == self.resolve(a[1]),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(x) for x in a),
            "Fn::Or": lambda a: any(self.resolve(x) for x in a),
            "Condition": lambda a: self.condition(a),
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(a[0]),
        }

    def _fn_get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = self.resolve(argument)
        return self.get_att(logical_id, attribute)

    def _fn_if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!literal} stays literal
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)


def dependencies(value: Any) -> set[str]:
    """Logical ids a resource's properties refer to (Ref, GetAtt, and ${X} in Sub)."""
    found: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, dict):
            for key, arg in v.items():
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    found.add(arg.split(".")[0] if isinstance(arg, str) else arg[0])
                elif key == "Fn::Sub":
                    text = arg[0] if isinstance(arg, list) else arg
                    for name in _SUB_VARIABLE.findall(text):
                        if not name.startswith("!"):
                            found.add(name.split(".")[0])
                    if isinstance(arg, list):
                        walk(arg[1])
                else:
                    walk(arg)

    walk(value)
    return found


def creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids in an order where every resource comes after those it refers to."""
    graph = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        refs = dependencies(resource.get("Properties", {})) | set(depends_on)
        graph[logical_id] = {r for r in refs if r in resources and r != logical_id}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise UnsupportedTemplateFeature(f"circular dependency: {' -> '.join(path + (node,))}")
        state[node] = 1
        for dep in sorted(graph[node]):
            visit(dep, path + (node,))
        state[node] = 2
        order.append(node)

    for node in sorted(graph):
        visit(node, ())
    return order
