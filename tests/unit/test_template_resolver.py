"""How the local stack resolves a template's parameters, references and intrinsic functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from payments.local.emulator import ACCOUNT_ID, REGION
from payments.local.stack import StackBuilder
from payments.local.template import StackError, Template

STACK = "pay"


def document(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Parameters": {
            "Env": {"Type": "String", "Default": "dev"},
            "Retention": {"Type": "Number", "Default": 14},
            "Timeout": {"Type": "Number", "Default": "3"},
        },
        "Conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "IsNotProd": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "prod"]}]},
            "IsDevOrTest": {
                "Fn::Or": [{"Fn::Equals": [{"Ref": "Env"}, "dev"]}, {"Fn::Equals": [{"Ref": "Env"}, "test"]}]
            },
            "IsProdWithLongRetention": {
                "Fn::And": [
                    {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                    {"Fn::Equals": [{"Ref": "Retention"}, "30"]},
                ]
            },
        },
        "Resources": {
            "IntentsTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"TableName": {"Fn::Sub": "${AWS::StackName}-intents-${Env}"}},
            },
            "UnnamedTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "AuthorizeFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"FunctionName": "payments-authorize", "Handler": "x.handler"},
            },
            "GetIntentFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "y.handler"},
            },
            "HttpApi": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Name": "ignored-name"}},
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/aws/lambda/payments"}},
        },
    }
    base.update(sections)
    return base


def template(parameters: dict[str, str] | None = None, **sections: Any) -> Template:
    return Template(document(**sections), stack_name=STACK, parameters=parameters or {})


# -- parameters ----------------------------------------------------------------------------------


def test_ref_to_a_parameter_uses_its_default() -> None:
    assert template().resolve({"Ref": "Env"}) == "dev"


def test_ref_to_a_parameter_uses_the_override() -> None:
    assert template({"Env": "prod"}).resolve({"Ref": "Env"}) == "prod"


def test_number_parameters_become_strings() -> None:
    # Given a Number parameter whose default is an int, and one whose default is already text
    resolved = template().resolve({"a": {"Ref": "Retention"}, "b": {"Ref": "Timeout"}})

    # Then both are strings, as CloudFormation passes them
    assert resolved == {"a": "14", "b": "3"}
    assert template({"Retention": "30"}).resolve({"Ref": "Retention"}) == "30"


def test_an_unknown_parameter_override_is_refused() -> None:
    with pytest.raises(StackError, match="Stage"):
        template({"Stage": "prod"})


def test_a_parameter_without_default_or_value_is_refused() -> None:
    parameters = {"Secret": {"Type": "String"}}

    with pytest.raises(StackError, match="Secret"):
        Template({"Parameters": parameters, "Resources": {}}, stack_name=STACK, parameters={})
    bound = Template(
        {"Parameters": parameters, "Resources": {}}, stack_name=STACK, parameters={"Secret": "s"}
    )
    assert bound.resolve({"Ref": "Secret"}) == "s"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AWS::Region", REGION),
        ("AWS::AccountId", ACCOUNT_ID),
        ("AWS::StackName", STACK),
        ("AWS::Partition", "aws"),
        ("AWS::URLSuffix", "amazonaws.com"),
    ],
)
def test_pseudo_parameters(name: str, expected: str) -> None:
    assert template().resolve({"Ref": name}) == expected


def test_the_pseudo_parameters_have_the_emulator_values() -> None:
    assert (REGION, ACCOUNT_ID) == ("us-east-1", "123456789012")


# -- references to resources ---------------------------------------------------------------------


def test_ref_to_a_table_is_its_table_name_resolved() -> None:
    assert template().resolve({"Ref": "IntentsTable"}) == "pay-intents-dev"
    assert template({"Env": "prod"}).resolve({"Ref": "IntentsTable"}) == "pay-intents-prod"


def test_ref_to_a_function_is_its_function_name() -> None:
    assert template().resolve({"Ref": "AuthorizeFunction"}) == "payments-authorize"


def test_ref_to_a_log_group_is_its_name() -> None:
    assert template().resolve({"Ref": "Logs"}) == "/aws/lambda/payments"


def test_ref_to_an_unnamed_resource_is_stack_dash_logical_id() -> None:
    assert template().resolve({"Ref": "UnnamedTable"}) == "pay-UnnamedTable"
    assert template().resolve({"Ref": "GetIntentFunction"}) == "pay-GetIntentFunction"
    assert template().resolve({"Ref": "HttpApi"}) == "pay-HttpApi"


def test_ref_to_an_unknown_resource_is_refused() -> None:
    with pytest.raises(StackError, match="NoSuchTable"):
        template().resolve({"Ref": "NoSuchTable"})


def test_an_unknown_reference_deep_inside_a_value_is_refused() -> None:
    with pytest.raises(StackError, match="Missing"):
        template().resolve({"Environment": {"Variables": {"A": ["x", {"Ref": "Missing"}]}}})


# -- Fn::Sub -------------------------------------------------------------------------------------


def test_sub_with_parameters_and_pseudo_parameters() -> None:
    assert template().resolve({"Fn::Sub": "${AWS::StackName}-${Env}-${AWS::Region}"}) == f"pay-dev-{REGION}"


def test_sub_with_resources_and_their_arns() -> None:
    resolved = template().resolve({"Fn::Sub": "${IntentsTable}|${IntentsTable.Arn}|${AuthorizeFunction.Arn}"})

    assert resolved == (
        f"pay-intents-dev|arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/pay-intents-dev"
        f"|arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:payments-authorize"
    )


def test_sub_with_an_explicit_variable_map() -> None:
    resolved = template().resolve(
        {"Fn::Sub": ["${Prefix}/${Env}/${Table}", {"Prefix": "p", "Table": {"Ref": "IntentsTable"}}]}
    )

    assert resolved == "p/dev/pay-intents-dev"


def test_an_explicit_variable_wins_over_a_parameter_of_the_same_name() -> None:
    assert template().resolve({"Fn::Sub": ["${Env}", {"Env": "mine"}]}) == "mine"


def test_sub_escape_keeps_a_literal() -> None:
    resolved = template().resolve({"Fn::Sub": "${!Literal}-${Env}-${!AWS::Region}"})

    assert resolved == "${Literal}-dev-${AWS::Region}"


def test_sub_without_variables_is_unchanged() -> None:
    assert template().resolve({"Fn::Sub": "plain text $ and {braces}"}) == "plain text $ and {braces}"


def test_sub_with_an_unknown_name_is_refused() -> None:
    with pytest.raises(StackError, match="Nope"):
        template().resolve({"Fn::Sub": "${Nope}"})


# -- Fn::GetAtt ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argument", [["IntentsTable", "Arn"], "IntentsTable.Arn"])
def test_getatt_list_and_dotted_forms(argument: Any) -> None:
    assert template().resolve({"Fn::GetAtt": argument}) == (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/pay-intents-dev"
    )


def test_getatt_of_a_function_and_a_log_group() -> None:
    resolved = template().resolve(
        {"f": {"Fn::GetAtt": ["GetIntentFunction", "Arn"]}, "l": {"Fn::GetAtt": "Logs.Arn"}}
    )

    assert resolved == {
        "f": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:pay-GetIntentFunction",
        "l": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/payments:*",
    }


def test_getatt_uses_a_recorded_attribute() -> None:
    # Given the stream ARN the emulator answered when the table was created
    resolved = template()
    resolved.attributes[("IntentsTable", "StreamArn")] = "arn:stream/1"

    assert resolved.resolve({"Fn::GetAtt": "IntentsTable.StreamArn"}) == "arn:stream/1"


def test_getatt_of_an_attribute_not_known_yet_is_refused() -> None:
    with pytest.raises(StackError, match="StreamArn"):
        template().resolve({"Fn::GetAtt": ["IntentsTable", "StreamArn"]})


def test_getatt_of_an_unknown_resource_is_refused() -> None:
    with pytest.raises(StackError, match="Ghost"):
        template().resolve({"Fn::GetAtt": ["Ghost", "Arn"]})


# -- Join / Select / Split -----------------------------------------------------------------------


def test_join() -> None:
    assert template().resolve({"Fn::Join": ["-", ["a", {"Ref": "Env"}, {"Ref": "Retention"}]]}) == "a-dev-14"
    assert template().resolve({"Fn::Join": ["", []]}) == ""


def test_select() -> None:
    assert template().resolve({"Fn::Select": [1, ["a", "b", "c"]]}) == "b"
    assert template().resolve({"Fn::Select": ["2", ["a", "b", {"Ref": "Env"}]]}) == "dev"


def test_split() -> None:
    assert template().resolve({"Fn::Split": [",", "a,b,,c"]}) == ["a", "b", "", "c"]
    assert template().resolve({"Fn::Split": ["-", {"Ref": "IntentsTable"}]}) == ["pay", "intents", "dev"]


def test_select_of_split() -> None:
    assert template().resolve({"Fn::Select": [1, {"Fn::Split": ["-", {"Ref": "IntentsTable"}]}]}) == "intents"


# -- conditions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("dev", {"IsProd": False, "IsNotProd": True, "IsDevOrTest": True, "IsProdWithLongRetention": False}),
        ("test", {"IsProd": False, "IsNotProd": True, "IsDevOrTest": True, "IsProdWithLongRetention": False}),
        (
            "prod",
            {"IsProd": True, "IsNotProd": False, "IsDevOrTest": False, "IsProdWithLongRetention": False},
        ),
    ],
)
def test_conditions_with_equals_not_and_or(env: str, expected: dict[str, bool]) -> None:
    assert template({"Env": env}).conditions == expected


def test_and_needs_every_part() -> None:
    assert template({"Env": "prod", "Retention": "30"}).conditions["IsProdWithLongRetention"] is True


def test_equals_compares_as_text() -> None:
    # a Number parameter (text) equals the same figure written as a number
    assert template().resolve({"Fn::Equals": [{"Ref": "Retention"}, 14]}) is True


@pytest.mark.parametrize(("env", "expected"), [("prod", 512), ("dev", 128)])
def test_if_picks_the_branch_of_its_condition(env: str, expected: int) -> None:
    assert template({"Env": env}).resolve({"Fn::If": ["IsProd", 512, 128]}) == expected


def test_if_resolves_only_the_value_of_its_branch() -> None:
    resolved = template().resolve({"Fn::If": ["IsProd", {"Ref": "IntentsTable"}, {"Fn::Sub": "${Env}-x"}]})

    assert resolved == "dev-x"


def test_the_condition_intrinsic() -> None:
    assert template({"Env": "prod"}).resolve({"Condition": "IsProd"}) is True
    assert template().resolve({"Condition": "IsProd"}) is False


def test_a_condition_may_use_another_condition() -> None:
    # Given a condition built on another one, as CloudFormation allows
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "IsProdAndLong": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Retention"}, "30"]}]},
    }

    # When the template is bound
    prod = template({"Env": "prod", "Retention": "30"}, Conditions=conditions)
    dev = template({"Env": "dev", "Retention": "30"}, Conditions=conditions)

    # Then
    assert prod.conditions == {"IsProd": True, "IsProdAndLong": True}
    assert dev.conditions == {"IsProd": False, "IsProdAndLong": False}


def test_an_unknown_condition_is_refused() -> None:
    with pytest.raises(StackError, match="IsStaging"):
        template().resolve({"Fn::If": ["IsStaging", 1, 2]})


def test_conditions_that_refer_to_each_other_in_a_cycle_are_refused() -> None:
    # Given two conditions that depend on one another (CloudFormation rejects this)
    conditions = {
        "A": {"Fn::Not": [{"Condition": "B"}]},
        "B": {"Fn::Or": [{"Condition": "A"}, {"Fn::Equals": [{"Ref": "Env"}, "prod"]}]},
    }

    # Then evaluating them is a stack error, not an endless recursion
    with pytest.raises(StackError):
        template(Conditions=conditions).resolve({"Fn::If": ["A", 1, 2]})


# -- AWS::NoValue --------------------------------------------------------------------------------


def test_no_value_removes_a_key() -> None:
    resolved = template().resolve(
        {"Timeout": 3, "ReservedConcurrentExecutions": {"Fn::If": ["IsProd", 50, {"Ref": "AWS::NoValue"}]}}
    )

    assert resolved == {"Timeout": 3}


def test_no_value_removes_a_list_item() -> None:
    resolved = template().resolve(
        [
            "first",
            {"Fn::If": ["IsProd", "prod-only", {"Ref": "AWS::NoValue"}]},
            {"Ref": "AWS::NoValue"},
            "last",
        ]
    )

    assert resolved == ["first", "last"]


def test_no_value_keeps_the_other_branch() -> None:
    resolved = template({"Env": "prod"}).resolve({"X": {"Fn::If": ["IsProd", 50, {"Ref": "AWS::NoValue"}]}})

    assert resolved == {"X": 50}


def test_no_value_nested_deep_inside() -> None:
    resolved = template().resolve({"Environment": {"Variables": {"A": "1", "B": {"Ref": "AWS::NoValue"}}}})

    assert resolved == {"Environment": {"Variables": {"A": "1"}}}


# -- plain values --------------------------------------------------------------------------------


def test_plain_values_pass_through() -> None:
    value = {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}], "Count": 2, "On": True, "None": None}

    assert template().resolve(value) == value


def test_a_multi_key_map_is_not_an_intrinsic() -> None:
    value = {"Ref": "Env", "Other": 1}

    assert template().resolve(value) == {"Ref": "Env", "Other": 1}


def test_resolve_does_not_change_the_document() -> None:
    doc = document()
    Template(doc, stack_name=STACK, parameters={}).resolve(doc["Resources"])

    assert doc["Resources"]["IntentsTable"]["Properties"]["TableName"] == {
        "Fn::Sub": "${AWS::StackName}-intents-${Env}"
    }


# -- StackBuilder --------------------------------------------------------------------------------


def test_an_unknown_resource_type_fails_before_anything_is_created() -> None:
    # Given a template with a type the local runtime cannot create, next to ones it can
    doc = document()
    doc["Resources"]["Queue"] = {"Type": "AWS::MQ::Broker", "Properties": {}}
    doc["Resources"]["Topic"] = {"Type": "AWS::EC2::Instance"}
    calls: list[str] = []

    def client(service: str) -> Any:
        calls.append(service)
        pytest.fail(f"a {service} client was asked for")

    builder = StackBuilder(Template(doc, stack_name=STACK, parameters={}), client, template_dir=Path.cwd())

    # When / Then
    with pytest.raises(StackError) as caught:
        builder.build()
    assert "Queue (AWS::MQ::Broker)" in str(caught.value)
    assert "Topic (AWS::EC2::Instance)" in str(caught.value)
    assert calls == []
    assert builder.deployed.resources == {}
    assert builder.deployed.functions == []


# -- Rules ---------------------------------------------------------------------------------------

ALERTS_RULE = {
    "AlertsReachSomeone": {
        "Assertions": [
            {
                "Assert": {
                    "Fn::Or": [
                        {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
                        {"Fn::Not": [{"Fn::Equals": [{"Ref": "Webhook"}, ""]}]},
                    ]
                },
                "AssertDescription": "Set Email, Webhook or both.",
            }
        ]
    },
    "ProdNeedsTheEmail": {
        "RuleCondition": {"Fn::Contains": [["prod", "live"], {"Ref": "Env"}]},
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}}],
    },
}


def ruled(**parameters: str) -> Template:
    doc = document(Rules=ALERTS_RULE)
    doc["Parameters"] |= {
        "Email": {"Type": "String", "Default": ""},
        "Webhook": {"Type": "String", "Default": ""},
    }
    return Template(doc, stack_name=STACK, parameters=parameters)


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({"Webhook": "https://chat.example/hook"}, []),
        ({"Email": "ops@example.com"}, []),
        ({}, ["Set Email, Webhook or both."]),
        # A rule whose condition holds is checked; an assertion without a description is named by its rule
        ({"Env": "prod", "Webhook": "https://chat.example/hook"}, ["rule ProdNeedsTheEmail is not met"]),
        ({"Env": "prod", "Email": "ops@example.com"}, []),
    ],
)
def test_rules_are_checked_against_the_parameters(parameters: dict[str, str], broken: list[str]) -> None:
    assert ruled(**parameters).broken_rules() == broken


def test_a_stack_its_rules_refuse_creates_nothing() -> None:
    def client(service: str) -> Any:
        pytest.fail(f"a {service} client was asked for")

    builder = StackBuilder(ruled(), client, template_dir=Path.cwd())

    with pytest.raises(StackError, match="Set Email, Webhook or both"):
        builder.build()
    assert builder.deployed.resources == {}


def test_a_rule_function_the_local_stack_does_not_know_is_refused_not_taken_as_true() -> None:
    doc = document(Rules={"R": {"Assertions": [{"Assert": {"Fn::EachMemberIn": [["a"], ["a"]]}}]}})

    with pytest.raises(StackError, match="Fn::EachMemberIn"):
        Template(doc, stack_name=STACK, parameters={}).broken_rules()
