"""Each merchant's processor rules in DynamoDB: one item per merchant (`merchantId`), its `rules` a list
of maps in order (`processor`, `currencies`, `minAmount`, `maxAmount`), and `updatedAt`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from payments.adapters.dynamodb_items import format_time
from payments.domain.errors import InvalidRequest
from payments.domain.processor_rules import ProcessorRule, rules_from
from payments.service.ports import MerchantProcessorRules, MerchantRules, ProcessorNotConfigured

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_WHOLE: Final = re.compile(r"-?[0-9]+")


class DynamoDBProcessorRules(MerchantProcessorRules):
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def rules_for(self, merchant_id: str) -> MerchantRules | None:
        item = self._client.get_item(
            TableName=self._table, Key={"merchantId": {"S": merchant_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        try:
            rules = rules_from(_plain(item.get("rules", {"L": []})))
        except InvalidRequest as error:
            # Someone wrote the item by hand: refuse the payment rather than send it anywhere by a guess.
            raise ProcessorNotConfigured(
                f"merchant {merchant_id}'s processor rules cannot be read ({error.message}); "
                "set them again with `payments processors set`"
            ) from None
        return MerchantRules(merchant_id, rules, str(item.get("updatedAt", {}).get("S", "")))

    def put(self, merchant_id: str, rules: Sequence[ProcessorRule], *, now: datetime) -> MerchantRules:
        stored = MerchantRules(merchant_id, tuple(rules), format_time(now))
        self._client.put_item(
            TableName=self._table,
            Item={
                "merchantId": {"S": merchant_id},
                "rules": {"L": [{"M": _rule_item(rule)} for rule in stored.rules]},
                "updatedAt": {"S": stored.updated_at},
            },
        )
        return stored

    def remove(self, merchant_id: str) -> bool:
        answer = self._client.delete_item(
            TableName=self._table, Key={"merchantId": {"S": merchant_id}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in answer


def _rule_item(rule: ProcessorRule) -> dict[str, Any]:
    item: dict[str, Any] = {"processor": {"S": rule.processor.value}}
    if rule.currencies is not None:
        item["currencies"] = {"L": [{"S": code} for code in rule.currencies]}
    if rule.min_amount is not None:
        item["minAmount"] = {"N": str(rule.min_amount)}
    if rule.max_amount is not None:
        item["maxAmount"] = {"N": str(rule.max_amount)}
    return item


def _plain(value: Any) -> Any:
    """A stored attribute as the domain reads it: only the types a rule is made of, numbers whole."""
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidRequest("a value of an unexpected shape")
    ((kind, inner),) = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        if not _WHOLE.fullmatch(inner):
            raise InvalidRequest(f"amounts must be whole minor units, found {inner}")
        return int(inner)
    if kind == "L":
        return [_plain(element) for element in inner]
    if kind == "M":
        return {key: _plain(element) for key, element in inner.items()}
    raise InvalidRequest(f"a value of an unexpected type ({kind})")
