"""The human-readable audit report (self-contained HTML with inline SVG plots)."""
