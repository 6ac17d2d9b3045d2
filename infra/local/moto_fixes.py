"""Corrections to moto that the local stack (and benches run on moto) apply in process.

Each one fixes a way moto differs from AWS that would make the local stack wrong or unusably slow,
without changing what a call returns; README.md ("What runs where") lists them.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from typing import Any

_local = threading.local()


def fix_dynamodb_query_by_partition() -> None:
    """Make a DynamoDB Query on a table's own key read only its partition, as DynamoDB does.

    moto (5.x) answers every Query on a table by sorting *every* item of the table and then keeping
    those with the partition key asked for: O(n log n) per query, about 0.4 s at 20,000 items and
    seconds at the index's size, where DynamoDB takes milliseconds. Here, for a Query on the table's
    own key (not an index), moto's code runs unchanged but sees only the asked partition's items,
    so what it returns (order, paging, filters, projections) is exactly what it returned before.
    """
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_mast_fixed", False):
        return
    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> list[Any]:
        only = getattr(_local, "partition", None)
        if only is not None and only[0] is self:
            return list(only[1])
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        bucket = self.items.get(hash_key) if hash_key in self.items else None
        if bucket is None:
            items: list[Any] = []
        else:
            items = list(bucket.values()) if self.range_key_attr else [bucket]
        _local.partition = (self, items)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _local.partition = None

    query._mast_fixed = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


#: BatchWriteItem: at most 25 put or delete requests, and 16 MB, in one call (DynamoDB's limits)
BATCH_WRITE_MAX_REQUESTS = 25
BATCH_WRITE_MAX_BYTES = 16 * 1024 * 1024
#: SQS's message size limit for a queue that sets no MaximumMessageSize: moto 5.2 defaults to the
#: 1 MiB that AWS allows since 2025; the local stack holds MAST to the 256 KiB every SQS consumer
#: and older queue accepts, so a message that fits locally fits everywhere
SQS_MAX_MESSAGE_BYTES = 262_144
#: ImportTable: at most 50 imports at once in an account (DynamoDB's ``LimitExceededException``:
#: https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/dynamodb/aws.sdk.kotlin.services.dynamodb.model/-limit-exceeded-exception),
#: and one import at most 50,000 S3 objects and 1 TB of them in eu-west-2
#: (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.BestPractices.html)
IMPORTS_AT_ONCE = 50
IMPORT_MAX_OBJECTS = 50_000
IMPORT_MAX_BYTES = 1024**4


def hold_to_aws_limits() -> None:
    """Refuse what AWS refuses and moto accepts, with AWS's error, where MAST could hit it.

    * DynamoDB ``BatchWriteItem`` of more than 25 requests, or none, or more than 16 MB: moto writes
      them all; DynamoDB answers ``ValidationException`` and writes nothing.
    * SQS messages above 256 KiB on a queue that sets no ``MaximumMessageSize`` (see
      :data:`SQS_MAX_MESSAGE_BYTES`); moto already refuses a message above a queue's own setting.

    (DynamoDB's 400 KB item and BatchGetItem's 100 keys and 16 MB pages are moto's own already.)
    """
    import moto.sqs.models as sqs_models
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    sqs_models.MAXIMUM_MESSAGE_LENGTH = SQS_MAX_MESSAGE_BYTES  # type: ignore[attr-defined]
    if getattr(DynamoHandler.batch_write_item, "_mast_fixed", False):
        return
    original = DynamoHandler.batch_write_item

    def batch_write_item(self: Any) -> Any:
        requests = sum(len(r) for r in (self.body.get("RequestItems") or {}).values())
        if requests > BATCH_WRITE_MAX_REQUESTS or requests == 0:
            raise MockValidationException(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value "
                "must satisfy constraint: [Member must have length less than or equal to 25, Member must have "
                "length greater than or equal to 1]")
        size = len(self.raw_body or b"")
        if size > BATCH_WRITE_MAX_BYTES:
            raise MockValidationException(f"Item collection size of the request ({size} bytes) exceeds the "
                                          "BatchWriteItem limit of 16 MB")
        return original(self)

    batch_write_item._mast_fixed = True  # type: ignore[attr-defined]
    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]


def enforce_cognito_like_aws() -> None:
    """Make moto's Cognito refuse what Cognito refuses, for the rules MAST's security rests on.

    moto (5.x) lets a user write any attribute with their own access token (UpdateUserAttributes),
    whatever the app client's ``WriteAttributes``, so a user could rename their own organisation;
    returns every attribute from GetUser and every custom attribute in the ID token, whatever its
    ``ReadAttributes``; accepts SignUp in a pool that allows only administrators to create users
    (and confirms it with any code); and, in a pool whose MFA is ``ON``, hands tokens to a user who
    has no MFA set up, or whose TOTP is enabled but not "preferred", without asking for a code, and
    ends an ``MFA_SETUP`` challenge without the authenticator having been verified. Here each is
    refused, or asked for, as Cognito does it; everything else moto does is unchanged.

    One rule goes the other way: moto accepts a TOTP code only in the 30 s step it was checked in,
    so a code read in the last instant of its step is refused (the demo's seeding failed so, at
    random, in CI). Cognito, like RFC 6238 section 5.2 recommends, tolerates clock skew ("clock
    skew on the user's device" is a documented cause of refusal only beyond it): here a code from
    the step before or after is accepted too, and any other code is still refused.
    """
    from moto.cognitoidp import models as cognito_models
    from moto.cognitoidp.exceptions import NotAuthorizedError
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUserPool

    if getattr(CognitoIdpBackend.sign_up, "_mast_fixed", False):
        return
    original_verify_totp = cognito_models.verify_totp

    def verify_totp(totp: Any, code: bytes, valid_window: int = 1) -> None:
        original_verify_totp(totp, code, valid_window=max(valid_window, 1))

    cognito_models.verify_totp = verify_totp
    original_sign_up = CognitoIdpBackend.sign_up
    original_update = CognitoIdpBackend.update_user_attributes
    original_get_user = CognitoIdpBackend.get_user
    original_initiate = CognitoIdpBackend.initiate_auth
    original_admin_initiate = CognitoIdpBackend.admin_initiate_auth
    original_respond = CognitoIdpBackend.respond_to_auth_challenge
    original_id_token = CognitoIdpUserPool.create_id_token

    def pool_of_client(backend: Any, client_id: str) -> Any:
        return next((p for p in backend.user_pools.values() if client_id in p.clients), None)

    def client_of_token(backend: Any, access_token: str) -> tuple[Any, Any]:
        for pool in backend.user_pools.values():
            if access_token in pool.access_tokens:
                client_id, _ = pool.access_tokens[access_token]
                return pool, pool.clients.get(client_id)
        raise NotAuthorizedError("Invalid Access Token")

    def sign_up(self: Any, client_id: str, username: str, *args: Any, **kwargs: Any) -> Any:
        pool = pool_of_client(self, client_id)
        settings = (pool.extended_config.get("AdminCreateUserConfig") or {}) if pool is not None else {}
        admin_only = bool(settings.get("AllowAdminCreateUserOnly"))
        if admin_only:
            raise NotAuthorizedError("SignUp is not permitted for this user pool")
        return original_sign_up(self, client_id, username, *args, **kwargs)

    def update_user_attributes(self: Any, access_token: str, attributes: list[dict[str, str]]) -> None:
        _, client = client_of_token(self, access_token)
        writable = (client.extended_config.get("WriteAttributes") if client is not None else None)
        if writable is not None and any(a["Name"] not in writable for a in attributes):
            raise NotAuthorizedError("A client attempted to write unauthorized attribute")
        return original_update(self, access_token, attributes)

    def get_user(self: Any, access_token: str) -> Any:
        user = original_get_user(self, access_token)
        _, client = client_of_token(self, access_token)
        readable = client.extended_config.get("ReadAttributes") if client is not None else None
        if readable is None:
            return user
        shown = copy.copy(user)  # the stored user keeps every attribute
        shown.attributes = [a for a in user.attributes if a["Name"] in readable or a["Name"] == "sub"]
        return shown

    def create_id_token(self: Any, client_id: str, username: str, origin_jti: str) -> tuple[str, int]:
        client = self.clients.get(client_id)
        if client is None or "ReadAttributes" not in client.extended_config:
            return original_id_token(self, client_id, username, origin_jti)
        # the client's readable attributes only (moto adds every custom attribute besides)
        extra_data = self.get_user_extra_data_by_client_id(client_id, username)
        extra_data["origin_jti"] = origin_jti
        user = self._get_user(username)
        if user.groups:
            extra_data["cognito:groups"] = [group.group_name for group in user.groups]
        id_token, expires_in = self.create_jwt(client_id, username, "id", extra_data=extra_data)
        self.id_tokens[id_token] = (client_id, username)
        return id_token, expires_in

    def mfa_instead_of_tokens(backend: Any, pool: Any, username: str, result: dict[str, Any]) -> dict[str, Any]:
        """In a pool whose MFA is ON, no sign-in ends in tokens without a second factor."""
        issued = result.get("AuthenticationResult")
        if pool is None or pool.mfa_config != "ON" or not issued:
            return result
        pool.access_tokens.pop(issued.get("AccessToken"), None)
        pool.id_tokens.pop(issued.get("IdToken"), None)
        pool.refresh_tokens.pop(issued.get("RefreshToken"), None)
        user = pool._get_user(username)
        session = str(uuid.uuid4())
        backend.sessions[session] = (username, pool)
        if user.software_token_mfa_enabled or user.token_verified:
            return {"ChallengeName": "SOFTWARE_TOKEN_MFA", "ChallengeParameters": {}, "Session": session}
        return {"ChallengeName": "MFA_SETUP", "ChallengeParameters": {"MFAS_CAN_SETUP": ["SOFTWARE_TOKEN_MFA"]},
                "Session": session}

    def initiate_auth(self: Any, client_id: str, auth_flow: str, auth_parameters: dict[str, str]) -> Any:
        result = original_initiate(self, client_id, auth_flow, auth_parameters)
        if auth_flow != "USER_PASSWORD_AUTH":  # a refresh is not a sign-in
            return result
        return mfa_instead_of_tokens(self, pool_of_client(self, client_id), auth_parameters.get("USERNAME", ""), result)

    def admin_initiate_auth(self: Any, user_pool_id: str, client_id: str, auth_flow: str,
                            auth_parameters: dict[str, str]) -> Any:
        result = original_admin_initiate(self, user_pool_id, client_id, auth_flow, auth_parameters)
        if auth_flow not in ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"):
            return result
        return mfa_instead_of_tokens(self, self.user_pools.get(user_pool_id), auth_parameters.get("USERNAME", ""),
                                     result)

    def respond_to_auth_challenge(self: Any, session: str, client_id: str, challenge_name: str,
                                  challenge_responses: dict[str, str]) -> Any:
        if challenge_name == "MFA_SETUP":
            if session not in self.sessions:
                raise NotAuthorizedError("Invalid session for the user.")
            username, pool = self.sessions[session]
            if not pool._get_user(username).token_verified:
                raise NotAuthorizedError("Set up and verify the software token (VerifySoftwareToken) first.")
            result = original_respond(self, session, client_id, challenge_name, challenge_responses)
            self.sessions.pop(session, None)  # a session is used once
            return result
        return original_respond(self, session, client_id, challenge_name, challenge_responses)

    sign_up._mast_fixed = True  # type: ignore[attr-defined]
    CognitoIdpBackend.sign_up = sign_up  # type: ignore[method-assign]
    CognitoIdpBackend.update_user_attributes = update_user_attributes  # type: ignore[method-assign]
    CognitoIdpBackend.get_user = get_user  # type: ignore[method-assign]
    CognitoIdpBackend.initiate_auth = initiate_auth  # type: ignore[method-assign]
    CognitoIdpBackend.admin_initiate_auth = admin_initiate_auth  # type: ignore[method-assign]
    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge  # type: ignore[method-assign]
    CognitoIdpUserPool.create_id_token = create_id_token  # type: ignore[method-assign]


def keep_scheduled_rules_off_the_event_bus() -> None:
    """A scheduled EventBridge rule (no event pattern) matches no event on AWS; moto's empty pattern
    matches every event, so every SFTP upload's ``PutEvents`` reached the users function's daily
    schedule too, whose Lambda target moto cannot send to: a 500, and the SDK's retries delivered
    the upload to ingest up to three times."""
    from moto.events.models import Rule

    original = Rule.send_to_targets
    if getattr(original, "_mast_fixed", False):
        return

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if self.scheduled_expression and not getattr(self.event_pattern, "_raw_pattern", None):
            return
        original(self, original_event, transform_input)

    send_to_targets._mast_fixed = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def read_dynamodb_json_imports_by_line() -> None:
    """Make DynamoDB's ImportTable read DynamoDB JSON as AWS does, one item per line, and hold it to
    its limits, which moto does not: an import started while :data:`IMPORTS_AT_ONCE` are in progress is
    refused (``LimitExceededException``), and one over :data:`IMPORT_MAX_OBJECTS` objects or
    :data:`IMPORT_MAX_BYTES` fails without a table (``FAILED``, saying which; AWS's guide names the
    limits, not how an import past them ends: failing is the safe reading).

    moto (5.2) parses an import file with py_partiql_parser's ``JsonParser``, which breaks on a
    string attribute holding escaped quotes (an index record item holds its record as JSON text:
    "could not convert string to float") and takes about 18 s for 20,000 items. Here each line is
    read with :func:`json.loads`; the table is created, counted and marked ``COMPLETED`` or
    ``FAILED`` (an item in error, or a file that is not gzip when GZIP is named) exactly as moto does.
    """
    from moto.core.exceptions import JsonRESTError
    from moto.core.utils import gzip_decompress
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table_import import TableImport

    if getattr(TableImport._process_s3_files, "_mast_fixed", False):
        return
    original_import = DynamoDBBackend.import_table

    def import_table(self: Any, *args: Any, **kwargs: Any) -> Any:
        running = sum(1 for i in self.table_imports.values() if i.status == "IN_PROGRESS")
        if running >= IMPORTS_AT_ONCE:
            raise JsonRESTError("LimitExceededException", f"{running} imports are in progress: up to "
                                f"{IMPORTS_AT_ONCE} simultaneous import table operations are allowed per account")
        return original_import(self, *args, **kwargs)

    def process_s3_files(self: Any, s3_backend: Any, bucket: Any) -> None:
        from moto.dynamodb.models import dynamodb_backends

        dynamo = dynamodb_backends[self.account_id][self.region_name]
        keys, _, _, _ = s3_backend.list_objects(bucket, prefix=self.s3_source.get("S3KeyPrefix"), delimiter=None,
                                                marker=None, max_keys=None)
        size = sum(key.size for key in keys)
        if len(keys) > IMPORT_MAX_OBJECTS or size > IMPORT_MAX_BYTES:
            self.failure_code = "LimitExceededException"
            self.failure_message = (f"the import source holds {len(keys):,} objects and {size:,} bytes: one import "
                                    f"takes at most {IMPORT_MAX_OBJECTS:,} objects and {IMPORT_MAX_BYTES:,} bytes")
            self.status = "FAILED"
            return
        self.table = dynamo.create_table(
            name=self.table_name, billing_mode=self.billing_mode, throughput=self.throughput,
            schema=self.key_schema, global_indexes=self.global_indexes, indexes=None, attr=self.attrs,
            sse_specification=None, streams=None, tags=[], deletion_protection_enabled=False,
            warm_throughput=None)
        for key in keys:
            raw = gzip_decompress(key.value) if self.compression_type == "GZIP" else key.value
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                self.processed_count += 1
                self.processed_bytes += len(line)
                try:
                    self.table.put_item(item_attrs=json.loads(line)["Item"])
                    self.imported_count += 1
                except Exception as error:  # counted, as moto (and DynamoDB) count an item in error
                    self.failure_message = str(error)
                    self.error_count += 1
        self.status = "COMPLETED" if self.error_count == 0 else "FAILED"

    process_s3_files._mast_fixed = True  # type: ignore[attr-defined]
    TableImport._process_s3_files = process_s3_files  # type: ignore[method-assign]
    DynamoDBBackend.import_table = import_table  # type: ignore[method-assign]
