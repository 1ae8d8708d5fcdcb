"""What payments' routes and subscribers are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from junction.web.app import from_app_state
from payments.handlers import Payments
from payments.settings import PaymentsSettings


@dataclass
class PaymentsDeps:
    settings: PaymentsSettings
    payments: Payments


PaymentsDep = Annotated[PaymentsDeps, Depends(from_app_state(PaymentsDeps))]
