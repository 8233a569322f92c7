"""Who sees a customer's personal data in clear, and who may ask to (GB/T 35273-2020: least
disclosure for the purpose). Which role sees what is configuration, not code.

For roles that see customers masked, masking covers the whole file: the customer object, and in
every text people write (subject, description, needs, result, feedback, notes, communications,
attachment filenames) the file's own identifiers and the shapes of common personal data. The
bytes of attachments cannot be masked: such roles get them only for a stated purpose, audited as
a reveal, or not at all (``RECORDS_MASKED_ATTACHMENTS``)."""

from __future__ import annotations

from enum import StrEnum

from records.audit.trail import current as current_trail
from records.crypto.masking import mask_account, mask_name, mask_phone, mask_text
from records.errors import NotPermitted
from records.models import Customer, PersonalData, Record
from records.roles import Principal, Role
from records.services.lookups import stated_purpose


class MaskedAttachments(StrEnum):
    purpose = "purpose"  # given with an X-Purpose, audited as attachment.reveal
    refuse = "refuse"  # never given to roles that see customers masked


class PersonalDataPolicy:
    def __init__(self, identity_roles: frozenset[Role], reveal_roles: frozenset[Role],
                 masked_attachments: MaskedAttachments = MaskedAttachments.purpose) -> None:
        self.identity_roles = identity_roles  # see personal data in clear in every read
        self.reveal_roles = reveal_roles  # may ask for it in clear, record by record
        self.masked_attachments = masked_attachments

    def present(self, record: Record, actor: Principal) -> Record:
        if record.customer is None or actor.role in self.identity_roles:
            return record
        customer = record.customer
        identifiers = (customer.name, customer.phone, customer.account)
        masked = Customer.model_construct(
            name=mask_name(customer.name),
            phone=mask_phone(customer.phone),
            account=mask_account(customer.account),
            identity_verified=customer.identity_verified,
        )

        def text(value: str | None) -> str | None:
            return mask_text(value, identifiers)

        update: dict[str, object] = {
            "customer": masked, "personal_data": PersonalData.masked,
            "subject": text(record.subject), "description": text(record.description),
            "needs": text(record.needs), "result": text(record.result),
            "notes": [n.model_copy(update={"text": text(n.text)}) for n in record.notes],
            "attachments": [a.model_copy(update={"filename": text(a.filename)}) for a in record.attachments],
        }
        if record.feedback is not None:
            update["feedback"] = record.feedback.model_copy(update={"comment": text(record.feedback.comment)})
        return record.model_copy(update=update)

    def check_may_reveal(self, actor: Principal) -> None:
        if actor.role not in self.reveal_roles:
            raise NotPermitted(f"role {actor.role} may not read personal data in clear (RECORDS_REVEAL_ROLES)")

    def check_may_read_attachment(self, actor: Principal) -> None:
        """Attachment bytes for a role that sees customers masked: refused, or for a stated purpose
        and then recorded as a reveal (the event's action ``attachment.reveal``, with the purpose)."""
        if actor.role in self.identity_roles:
            return
        if self.masked_attachments is MaskedAttachments.refuse:
            raise NotPermitted(f"role {actor.role} sees customers masked and may not read attachments "
                               "(RECORDS_MASKED_ATTACHMENTS=refuse)")
        stated_purpose(what="reading an attachment of a masked file")
        trail = current_trail()
        if trail is not None:
            trail.action = "attachment.reveal"
