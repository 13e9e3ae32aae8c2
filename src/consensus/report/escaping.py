"""Escaping of vendor-supplied strings for the report's HTML and SVG."""

from __future__ import annotations

from html import escape as _html_escape

# Unicode bidirectional controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM): in a vendor id they reorder the
# text around them, so a right-to-left override in one worker id reverses the figures after it.
_BIDI_CONTROLS = {code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                                      0x200E, 0x200F, 0x061C)}


def escape(text: object) -> str:
    """HTML-escape ``text`` (quotes included) and show bidirectional controls as text (``\\u202e``)."""
    return _html_escape(str(text).translate(_BIDI_CONTROLS))
