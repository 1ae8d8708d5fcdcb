"""What notifications' routes are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from junction.web.app import from_app_state
from notifications.handlers import Emails
from notifications.settings import NotificationsSettings


@dataclass
class NotificationsDeps:
    settings: NotificationsSettings
    emails: Emails


NotificationsDep = Annotated[NotificationsDeps, Depends(from_app_state(NotificationsDeps))]
