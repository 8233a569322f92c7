"""What the console calls the values of the records model (channels, urgencies, note types…):
message ids, translated where a page shows them, so that a form or a table never shows a raw
enum value such as ``online_chat`` to a person. Names follow SPEC §2.1 (channels) and §2.2
(urgency); a value with no entry here is shown as it is."""

from __future__ import annotations

from enum import Enum

from records.console.i18n import N_

VALUE_LABELS: dict[str, str] = {
    # the four kinds of file (SPEC §1)
    "consultation": N_("Consultation"), "work_order": N_("Work order"), "complaint": N_("Complaint"),
    "emergency": N_("Emergency"),
    # SPEC §2.1, the channels a file comes in by
    "phone": N_("Phone"), "online_chat": N_("Online chat"), "self_service": N_("Self-service platform"),
    "business_hall": N_("Business hall"), "social_media": N_("Social media"), "app_web": N_("Mobile app or web"),
    "smart_voice": N_("Smart voice"),
    # SPEC §2.2, urgency and complexity
    "general": N_("General"), "urgent": N_("Urgent"), "major": N_("Major"),
    "simple": N_("Simple"), "complex": N_("Complex"),
    # service types (SPEC §4.1, §4.2)
    "network": N_("Network"), "voice": N_("Voice"), "billing": N_("Billing"),
    # service-level states, notes and communications
    "breached": N_("Breached"), "due_soon": N_("Due soon"),
    "note": N_("Internal note"), "communication": N_("Communication with the customer"),
    "inbound": N_("From the customer"), "outbound": N_("To the customer"),
}


def value_label(value: Enum | str | None) -> str:
    """The msgid of ``value``'s label (the template translates it), or the value itself."""
    if value is None:
        return ""
    raw = value.value if isinstance(value, Enum) else str(value)
    return VALUE_LABELS.get(raw, raw)
