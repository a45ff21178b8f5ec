"""A link as a QR code (inline SVG), for a unit's administrator to scan with WeChat."""

from __future__ import annotations

import segno


def qr_svg(text: str) -> str:
    """An ``<svg>`` element drawing ``text`` as a QR code (error correction M), scaled by CSS."""
    return str(segno.make(text, error="m", micro=False).svg_inline(scale=4, omitsize=True))
