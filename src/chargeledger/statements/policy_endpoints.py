"""/v1/reimbursement-policy: what counts for the tenant's statements."""

from fastapi import APIRouter
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.kit.openapi_responses import WRITE, problems
from chargeledger.kit.responses import json_response
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.statements.policy_repository import load_policy, store_policy
from chargeledger.statements.policy_schemas import PolicyIn, ReimbursementPolicy, policy_resource

router = APIRouter(route_class=JsonBodyRoute, tags=["Reimbursement"])

_WHAT_COUNTS = (
    "A session of a driver's car counts when it is matched to the location labelled "
    "`homeLocationLabel` with at least `minimumAccuracy`; a session of the driver's home "
    "charge point counts unless another driver's tag started it. Dates of statements and "
    "assignments are local dates of `timeZone`."
)


@router.get(
    "/v1/reimbursement-policy",
    summary="Retrieve the reimbursement policy",
    description="The defaults until the tenant sets one. " + _WHAT_COUNTS,
    response_model=ReimbursementPolicy,
    responses=problems(401),
)
async def get_policy(context: Context) -> Response:
    async with context.read() as connection:
        policy = await load_policy(connection, context.principal.tenant_id)
    return json_response(policy_resource(policy))


@router.put(
    "/v1/reimbursement-policy",
    summary="Set the reimbursement policy",
    description="Replaces the whole policy: a field left out takes its default (`{}` restores "
    "every default). It applies to statements computed from now on; finalised statements "
    "keep what they were. " + _WHAT_COUNTS,
    response_model=ReimbursementPolicy,
    responses=WRITE,
)
async def put_policy(body: PolicyIn, context: Context) -> Response:
    tenant_id = context.principal.tenant_id
    async with context.write() as connection:
        await store_policy(connection, tenant_id, body.policy(), now_ms=context.now_ms)
        # What is stored, read back: the answer is what statements will use.
        policy = await load_policy(connection, tenant_id)
    return json_response(policy_resource(policy))
