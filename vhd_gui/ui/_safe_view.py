"""Safe view: what disturbing media looks like before the user asks to see it.

A blur made by shrinking the picture to a handful of pixels and letting the painter scale it
back up smoothly: cheap enough for every thumbnail, and nothing recognisable survives.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

BLUR_SIDE = 10  # pixels on the longest side of the veiled picture


def veiled(image: QImage, grayscale: bool = False) -> QImage:
    """A tiny version of ``image`` to be drawn scaled up (smoothly) in place of the original."""
    if image.isNull():
        return image
    small = image.scaled(BLUR_SIDE, BLUR_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    # Twice through a smaller size washes out the last hard edges.
    tiny = small.scaled(max(1, small.width() // 2), max(1, small.height() // 2), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
    small = tiny.scaled(small.width(), small.height(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return gray(small) if grayscale else small.convertToFormat(QImage.Format.Format_RGB32)


def gray(image: QImage) -> QImage:
    return image.convertToFormat(QImage.Format.Format_Grayscale8).convertToFormat(QImage.Format.Format_RGB32)
