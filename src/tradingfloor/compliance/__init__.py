"""Audit and compliance: the hash-chained audit trail, trade reports, the CAT-style order-event
file, exports, surveillance and execution-quality reports. Each is built from the event feed
(and the read models); none reaches into a shard."""
