"""Classification schemes of the operator's specification and keyword classification at intake.

Schemes (SPEC.md "Classification schemes", §2.4 and §3.1):
- content: network service (connection, signal, speed) · business handling (plan change,
  activation, account query) · customer service (complaint, suggestion, consultation) · fault
  handling (equipment fault, system anomaly, service interruption)
- urgency: general · urgent · major (§2.4)
- handling mode: self-service · manual (§2.4)
- service type at intake: network · voice · billing (§3.1)

At intake, keywords in the subject, description and needs (English words, Chinese phrases)
propose content codes; urgency, handling mode (from the channel) and a work order's service
type are classified from the record's own fields.
"""

from __future__ import annotations

import re

from records import hookimpl
from records.classification import ClassificationScheme, SchemeCode
from records.models import Channel, Record

CONTENT = [
    ("network_service", "Network service", "网络服务", None),
    ("network_service.connection", "Connection", "网络连接", "network_service"),
    ("network_service.signal", "Signal", "信号", "network_service"),
    ("network_service.speed", "Speed", "网速", "network_service"),
    ("business_handling", "Business handling", "业务办理", None),
    ("business_handling.plan_change", "Plan change", "套餐变更", "business_handling"),
    ("business_handling.activation", "Activation", "业务开通", "business_handling"),
    ("business_handling.account_query", "Account query", "账户查询", "business_handling"),
    ("customer_service", "Customer service", "客户服务", None),
    ("customer_service.complaint", "Complaint", "投诉", "customer_service"),
    ("customer_service.suggestion", "Suggestion", "建议", "customer_service"),
    ("customer_service.consultation", "Consultation", "咨询", "customer_service"),
    ("fault_handling", "Fault handling", "故障处理", None),
    ("fault_handling.equipment_fault", "Equipment fault", "设备故障", "fault_handling"),
    ("fault_handling.system_anomaly", "System anomaly", "系统异常", "fault_handling"),
    ("fault_handling.service_interruption", "Service interruption", "服务中断", "fault_handling"),
]

# English keywords match at the start of a word, so inflections count ("activate" finds
# "activated", "bill" finds "billing"), case-insensitively; Chinese phrases match anywhere.
KEYWORDS: dict[str, tuple[list[str], list[str]]] = {
    "network_service.connection": (["connection", "connect", "disconnected", "no internet"], ["断网", "上不了网", "连不上"]),
    "network_service.signal": (["signal", "no service", "coverage"], ["信号"]),
    "network_service.speed": (["slow", "speed", "bandwidth"], ["网速", "速度慢", "卡顿"]),
    "business_handling.plan_change": (["plan change", "change plan", "change my plan", "upgrade plan"], ["套餐变更", "换套餐", "改套餐"]),
    "business_handling.activation": (["activate", "activation"], ["开通", "激活"]),
    "business_handling.account_query": (["balance", "bill", "billing", "charge", "charges"], ["余额", "账单", "话费", "扣费"]),
    "customer_service.complaint": (["complain", "complaint"], ["投诉"]),
    "customer_service.suggestion": (["suggest", "suggestion"], ["建议"]),
    "customer_service.consultation": (["question", "consult", "inquiry", "enquiry"], ["咨询"]),
    "fault_handling.equipment_fault": (["router", "modem", "device", "set-top box"], ["设备故障", "光猫", "路由器", "机顶盒"]),
    "fault_handling.system_anomaly": (["error", "system anomaly", "glitch"], ["系统异常", "报错"]),
    "fault_handling.service_interruption": (["outage", "interruption", "interrupted"], ["中断", "停机"]),
}
_PATTERNS = {
    code: (re.compile(r"\b(" + "|".join(re.escape(w) for w in english) + r")", re.IGNORECASE), chinese)
    for code, (english, chinese) in KEYWORDS.items()
}
SELF_SERVICE_CHANNELS = {Channel.self_service, Channel.smart_voice}


def _scheme(name: str, en: str, zh: str, codes: list[tuple[str, str, str, str | None]]) -> ClassificationScheme:
    return ClassificationScheme(name=name, title_en=en, title_zh=zh, codes=[
        SchemeCode(code=c, label_en=le, label_zh=lz, parent=p) for c, le, lz, p in codes])


SCHEMES = [
    _scheme("content", "Service content", "服务内容", CONTENT),
    _scheme("urgency", "Urgency", "紧急程度", [("general", "General", "一般", None), ("urgent", "Urgent", "紧急", None),
                                            ("major", "Major", "重大", None)]),
    _scheme("handling_mode", "Handling mode", "处理方式", [("self_service", "Self-service", "自助服务", None),
                                                     ("manual", "Manual (staffed)", "人工服务", None)]),
    _scheme("service_type", "Service type", "服务类型", [("network", "Network", "网络", None), ("voice", "Voice", "语音", None),
                                                   ("billing", "Billing", "计费", None)]),
]


def content_codes(text: str) -> list[str]:
    found = []
    for code, (english, chinese) in _PATTERNS.items():
        if english.search(text) or any(phrase in text for phrase in chinese):
            found.append(f"content:{code}")
    return found


@hookimpl(trylast=True)
def records_register_classification_schemes(register) -> None:  # type: ignore[no-untyped-def]
    for scheme in SCHEMES:
        register(scheme)


@hookimpl(trylast=True)
def records_classify(record: Record) -> list[str]:
    text = " ".join(t for t in (record.subject, record.description, record.needs) if t)
    codes = content_codes(text)
    codes.append(f"urgency:{record.urgency.value}")
    codes.append("handling_mode:" + ("self_service" if record.channel in SELF_SERVICE_CHANNELS else "manual"))
    if record.service_type is not None:
        codes.append(f"service_type:{record.service_type.value}")
    return codes
