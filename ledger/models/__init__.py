"""Typed SQLAlchemy models. Money is integer minor units beside a currency; time is UTC."""

from .access import FormUse, WebSession  # noqa: F401
from .base import (  # noqa: F401
    OVERAGE_POLICIES,
    QUOTE_STATES,
    QUOTE_UNITS,
    ROLES,
    SEVERITIES,
    Role,
    UTCDateTime,
    utcnow,
)
from .catalog import BillableItem, Quote, QuoteLine, RateCard, RateCardRole, VolumeDiscount  # noqa: F401
from .invoicing import Invoice, InvoiceDocument, InvoiceLine, InvoiceSource  # noqa: F401
from .ledger import (  # noqa: F401
    ACTIVITY_KINDS,
    ENTRY_KINDS,
    LOT_KINDS,
    UNITS,
    Activity,
    AppendOnlyViolation,
    Bundle,
    Case,
    Counter,
    Entry,
    IdempotencyRecord,
    Lot,
    TermClose,
    Waiver,
)
from .mail import MAIL_KINDS, MAIL_STATES, OutboxAttachment, OutboxMessage  # noqa: F401
from .parties import ApiToken, Client, LoginFailure, User  # noqa: F401
from .payments import BankLine, Payment  # noqa: F401
from .service_levels import (  # noqa: F401
    CaseStatusChange,
    SupportPlan,
    SupportPlanClosure,
    SupportPlanHours,
    SupportPlanTarget,
    SupportPlanVersion,
)
from .vendor import ClientTax, Vendor  # noqa: F401
