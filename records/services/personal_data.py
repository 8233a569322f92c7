"""Who sees a customer's personal data in clear, and who may ask to (GB/T 35273-2020: least
disclosure for the purpose). Which role sees what is configuration, not code."""

from __future__ import annotations

from records.crypto.masking import mask_account, mask_name, mask_phone
from records.errors import NotPermitted
from records.models import Customer, PersonalData, Record
from records.roles import Principal, Role


class PersonalDataPolicy:
    def __init__(self, identity_roles: frozenset[Role], reveal_roles: frozenset[Role]) -> None:
        self.identity_roles = identity_roles  # see personal data in clear in every read
        self.reveal_roles = reveal_roles  # may ask for it in clear, record by record

    def present(self, record: Record, actor: Principal) -> Record:
        if record.customer is None or actor.role in self.identity_roles:
            return record
        customer = record.customer
        masked = Customer.model_construct(
            name=mask_name(customer.name),
            phone=mask_phone(customer.phone),
            account=mask_account(customer.account),
            identity_verified=customer.identity_verified,
        )
        return record.model_copy(update={"customer": masked, "personal_data": PersonalData.masked})

    def check_may_reveal(self, actor: Principal) -> None:
        if actor.role not in self.reveal_roles:
            raise NotPermitted(f"role {actor.role} may not read personal data in clear (RECORDS_REVEAL_ROLES)")
