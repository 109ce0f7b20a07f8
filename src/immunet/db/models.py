"""Every mapped table, imported in one place so metadata (and Alembic) see them all."""

from __future__ import annotations

from immunet.booking import models as booking_models
from immunet.certificates import models as certificate_models
from immunet.db.base import Base
from immunet.geography import centers as center_models
from immunet.geography import models as geography_models
from immunet.outbox import models as outbox_models
from immunet.oversight import models as oversight_models
from immunet.partners import models as partner_models
from immunet.people import models as people_models
from immunet.research import models as research_models
from immunet.security import models as security_models
from immunet.sessions import models as session_models
from immunet.staff import models as staff_models
from immunet.vaccination import models as vaccination_models

__all__ = [
    "Base",
    "booking_models",
    "center_models",
    "certificate_models",
    "geography_models",
    "outbox_models",
    "oversight_models",
    "partner_models",
    "people_models",
    "research_models",
    "security_models",
    "session_models",
    "staff_models",
    "vaccination_models",
]
