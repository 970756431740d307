from fastapi import APIRouter
from starlette.responses import Response

from chargeledger.api.serialization import json_response

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness", description="200 while the process serves requests.")
async def healthz() -> Response:
    return json_response({"status": "ok"})
