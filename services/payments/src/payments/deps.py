from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from payments.handlers import Payments
from payments.settings import PaymentsSettings


@dataclass
class PaymentsDeps:
    settings: PaymentsSettings
    payments: Payments


async def get_deps(request: Request) -> PaymentsDeps:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool.
    deps: PaymentsDeps = request.app.state.deps
    return deps


PaymentsDep = Annotated[PaymentsDeps, Depends(get_deps)]
