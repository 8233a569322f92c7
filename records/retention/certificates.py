"""Destruction certificates: signed with the service's Ed25519 key, verifiable offline.

The signature covers ``records destruction certificate v1\\n`` followed by the certificate's JSON
without its ``signature`` member, keys sorted, no insignificant whitespace, UTF-8 unescaped.
Each item carries the destruction event exactly as it was hashed into the audit log and its
RFC 9162 inclusion proof in the signed checkpoint the certificate names, so a verifier needs
nothing but the file (and, to know whose key it is, the published audit public keys).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from pydantic import BaseModel

from records.audit.events import AuditEvent
from records.audit.log import checkpoint_message
from records.audit.merkle import leaf_hash, node_hash
from records.crypto.keyring import audit_key_id
from records.retention.errors import CertificateUnreadable
from records.retention.models import DestructionCertificate

HEADER = b"records destruction certificate v1\n"
DISPOSAL_ACTIONS = {"retention.destroy", "retention.transfer"}


def canonical(document: dict[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(certificate: DestructionCertificate, key_id: str, key: Ed25519PrivateKey) -> DestructionCertificate:
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    unsigned = certificate.model_copy(update={"key_id": key_id, "public_key": pem, "signature": ""})
    signature = key.sign(HEADER + canonical(unsigned.model_dump(mode="json")))
    return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or None when it cannot be one."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify(document: dict[str, Any], trusted_keys: dict[str, Ed25519PublicKey] | None = None) -> list[str]:
    """Every reason the certificate cannot be trusted; empty when it verifies.

    Without ``trusted_keys`` the embedded public key is used: that proves only that the file is
    unaltered since *someone* signed it (a forger signs with a key of their own), so whoever must
    know who signed passes the installation's published keys (``records retention
    verify-certificate`` always does). With them, the key must be one of them.
    """
    problems: list[str] = []
    try:
        cert = DestructionCertificate.model_validate(document)
        public = load_pem_public_key(cert.public_key.encode())
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("the public key is not Ed25519")
    except (ValueError, TypeError) as exc:
        return [f"not a destruction certificate: {exc}"]
    if audit_key_id(public) != cert.key_id:
        problems.append("key_id does not name the embedded public key")
    if trusted_keys is not None:
        trusted = trusted_keys.get(cert.key_id)
        if trusted is None or trusted.public_bytes(Encoding.Raw, PublicFormat.Raw) != public.public_bytes(Encoding.Raw, PublicFormat.Raw):
            problems.append(f"key {cert.key_id} is not one of the trusted keys")
    keys = {cert.key_id: public, **(trusted_keys or {})}
    try:
        public.verify(base64.b64decode(cert.signature, validate=True), HEADER + canonical(document))
    except (InvalidSignature, ValueError):
        problems.append("the signature does not match: the certificate was altered or signed by another key")
    checkpoint = cert.audit_checkpoint
    try:
        size, root_hex = int(checkpoint["tree_size"]), str(checkpoint["root_hash"])
        cp_key = keys.get(str(checkpoint["key_id"]))
        if cp_key is None:
            problems.append(f"the audit checkpoint is signed by key {checkpoint['key_id']}, which is not known here")
        else:
            cp_key.verify(base64.b64decode(checkpoint["signature"]),
                          checkpoint_message(size, root_hex, str(checkpoint["timestamp"])))
    except (KeyError, ValueError, TypeError, InvalidSignature):
        return [*problems, "the audit checkpoint's signature does not verify"]
    for item in cert.items:
        try:
            event = AuditEvent.model_validate(item.audit_event)
            path = [bytes.fromhex(h) for h in item.inclusion_path]
        except ValueError:
            problems.append(f"{item.reference}: its audit event is malformed")
            continue
        if event.action not in DISPOSAL_ACTIONS or f"record:{item.record_id}" not in event.targets:
            problems.append(f"{item.reference}: the audit event is not this record's destruction")
        found = root_from_inclusion(event.seq, size, leaf_hash(event.canonical()), path)
        if found is None or found.hex() != root_hex:
            problems.append(f"{item.reference}: its destruction event is not included in the audit checkpoint")
    return problems


class CertificateCheck(BaseModel):
    """What verifying a certificate against an installation's keys found."""

    valid: bool
    problems: list[str]
    key_id: str | None
    key_fingerprint: str | None
    installation_key: bool  # signed by one of the installation's audit keys


def check(document: dict[str, Any], installation_keys: dict[str, Ed25519PublicKey]) -> CertificateCheck:
    """``verify`` against the installation's published keys, as ``records retention
    verify-certificate`` does by default, with the signing key named for a person to compare."""
    problems = verify(document, installation_keys)
    key = embedded_key(document)
    key_id = str(document.get("key_id")) if key is not None else None
    return CertificateCheck(valid=not problems, problems=problems, key_id=key_id,
                            key_fingerprint=key_fingerprint(key) if key is not None else None,
                            installation_key=key_id in installation_keys)


def fingerprint(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def render_html(cert: DestructionCertificate) -> str:
    e = html.escape
    rows = "\n".join(
        f"<tr><td>{e(i.reference)}</td><td>{e(i.kind.value)}</td><td>{e(i.action.value)}</td>"
        f"<td>{e(i.schedule.name)} v{i.schedule.version}</td><td>{i.retain_until.date()}</td>"
        f"<td>{e(i.disposed_at.isoformat())}</td><td>{e(', '.join(i.approvers))}</td>"
        f"<td><code>{e(i.content_hash)}</code></td></tr>"
        for i in cert.items
    )
    cp = cert.audit_checkpoint
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Destruction certificate {e(cert.id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px;font-size:90%}}code{{word-break:break-all}}</style>
</head><body>
<h1>Certificate of destruction</h1>
<p>Certificate <code>{e(cert.id)}</code>, disposition batch <code>{e(cert.batch_id)}</code>, issued {e(cert.issued_at.isoformat())}.</p>
<p>Executed by <strong>{e(cert.executor)}</strong> from {e(cert.started_at.isoformat())} to {e(cert.finished_at.isoformat())};
approved by {e(', '.join(cert.approvers) or '-')}.</p>
<table><thead><tr><th>reference</th><th>kind</th><th>action</th><th>schedule</th><th>retain until</th><th>disposed at</th><th>approvers</th><th>content SHA-256</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p>Audit checkpoint covering every destruction event: tree size {e(str(cp.get('tree_size')))}, root <code>{e(str(cp.get('root_hash')))}</code>, signed {e(str(cp.get('timestamp')))}.</p>
<p>Signed with Ed25519 key <code>{e(cert.key_id)}</code>. Signature <code>{e(cert.signature)}</code>.</p>
<p>Verify the JSON form offline: <code>records retention verify-certificate FILE</code>.</p>
</body></html>
"""


def render_pdf(cert: DestructionCertificate) -> bytes:
    """A printable PDF (fpdf2: pure Python, no system libraries). The JSON form is the signed one."""
    from fpdf import FPDF

    def latin(text: str) -> str:
        return text.encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Certificate of destruction", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    cp = cert.audit_checkpoint
    for line in (
        f"Certificate {cert.id}",
        f"Disposition batch {cert.batch_id}, issued {cert.issued_at.isoformat()}",
        f"Executed by {cert.executor} from {cert.started_at.isoformat()} to {cert.finished_at.isoformat()}",
        f"Approved by {', '.join(cert.approvers) or '-'}",
        f"Audit checkpoint: tree size {cp.get('tree_size')}, root {cp.get('root_hash')}",
        f"Signed with Ed25519 key {cert.key_id}",
    ):
        pdf.multi_cell(0, 5, latin(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for item in cert.items:
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(0, 5, latin(f"{item.reference} ({item.kind.value}) - {item.action.value}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=8)
        pdf.multi_cell(0, 4, latin(
            f"schedule {item.schedule.name} v{item.schedule.version}; retain until {item.retain_until.date()}; "
            f"disposed {item.disposed_at.isoformat()}; approvers {', '.join(item.approvers)}\n"
            f"content SHA-256 {item.content_hash}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Courier", size=7)
    pdf.multi_cell(0, 4, latin(f"signature {cert.signature}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(0, 4, f"The signed JSON is embedded in this PDF as {attachment_name(cert)}. Verify offline with: "
                   "records retention verify-certificate FILE", new_x="LMARGIN", new_y="NEXT")
    pdf.embed_file(bytes=cert.model_dump_json().encode(), basename=attachment_name(cert), mime_type="application/json",
                   modification_date=cert.issued_at, desc="signed destruction certificate (JSON)")
    return bytes(pdf.output())


def attachment_name(cert: DestructionCertificate) -> str:
    return f"certificate-{cert.id}.json"


def read_certificate(data: bytes) -> dict[str, Any]:
    """The signed certificate from a file as the service gives it: its JSON, or a PDF carrying that
    JSON as an embedded file. Raises ``CertificateUnreadable`` saying what could not be read."""
    if data.lstrip()[:5] == b"%PDF-":
        return _from_pdf(data)
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CertificateUnreadable("the file is neither a certificate's JSON (not UTF-8 text) nor its PDF") from None
    except ValueError as exc:
        raise CertificateUnreadable(f"the file is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CertificateUnreadable("not a destruction certificate: the file is not a JSON object")
    return document


def _from_pdf(data: bytes) -> dict[str, Any]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        attachments = PdfReader(io.BytesIO(data)).attachments
        found = {name: contents for name, contents in attachments.items() if name.endswith(".json")}
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CertificateUnreadable(f"the PDF cannot be read: {type(exc).__name__}") from None
    if not found:
        raise CertificateUnreadable("the PDF carries no signed JSON certificate (printed before certificates embedded "
                                    "it? fetch the JSON form: GET /api/v1/retention/certificates/{id})")
    name = sorted(found)[0]
    return read_certificate(found[name][0])


def key_fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 over the raw public key, as ``SHA256:<hex>`` (its first 16 hex digits are the key id)."""
    return "SHA256:" + hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def embedded_key(document: dict[str, Any]) -> Ed25519PublicKey | None:
    try:
        public = load_pem_public_key(str(document.get("public_key", "")).encode())
    except (ValueError, TypeError):
        return None
    return public if isinstance(public, Ed25519PublicKey) else None
