"""The audit of a delivery: every check in one run, a report and machine-readable outputs."""

from consensus.audit.progress import Progress
from consensus.audit.run import AuditResult, audit

__all__ = ["AuditResult", "Progress", "audit"]
