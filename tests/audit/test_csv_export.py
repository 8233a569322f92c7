"""The access log's CSV export neutralises spreadsheet formulas in what clients sent."""

from __future__ import annotations

import csv
import io

# --- CSV export neutralises formulas ---------------------------------------------------------


def test_csv_export_neutralises_a_formula_in_x_purpose(agent, compliance_officer):
    formula = '=HYPERLINK("http://evil.example","x")'
    assert agent.get("/api/v1/me", headers={"X-Purpose": formula}).status_code == 200
    export = compliance_officer.get("/api/v1/audit/events", params={"format": "csv"})
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    purposes = [row["purpose"] for row in rows if "HYPERLINK" in (row["purpose"] or "")]
    assert purposes == ["'" + formula]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values() if cell)
