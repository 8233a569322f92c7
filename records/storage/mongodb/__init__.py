"""The production record store: MongoDB through beanie (records, tokens, data keys, audit log, leases).

Only ``records.storage.open_storage`` imports this package, so the embedded mode never needs
beanie or pymongo.
"""
