"""The invitation mail names the address to sign in at (issue 18, point 3): the template's
SignInAddress parameter, which the local stack sets to its own address."""

from __future__ import annotations

from pathlib import Path

from infra.local.stack import LocalOptions, template_parameters
from infra.local.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]


def _message(parameters: dict[str, object]) -> str:
    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(parameters={**parameters, "AWS::Region": "eu-west-2", "AWS::AccountId": "1",
                                    "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
                                    "AWS::StackName": "s"},
                        conditions=template["Conditions"])
    pool = template["Resources"]["UserPool"]["Properties"]
    return str(resolver.resolve(pool["AdminCreateUserConfig"]["InviteMessageTemplate"]["EmailMessage"]))


def test_the_local_stack_invitation_names_its_sign_in_address() -> None:
    template = load_template(ROOT / "template.yaml")
    parameters = template_parameters(LocalOptions(port=8123), template)
    assert parameters["SignInAddress"] == "http://127.0.0.1:8123/"
    message = _message(parameters)
    assert "Sign in at http://127.0.0.1:8123/ with {username} and the temporary password {####}" in message


def test_without_an_address_the_invitation_still_reads() -> None:
    template = load_template(ROOT / "template.yaml")
    parameters = template_parameters(LocalOptions(), template)
    parameters["SignInAddress"] = ""
    message = _message(parameters)
    assert "Sign in with {username} and the temporary password {####}" in message
