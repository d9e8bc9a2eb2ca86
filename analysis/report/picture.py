"""A JPEG drawn into the report as it is.

reportlab's ``Image`` flowable hands ``canvas.drawImage`` an ``ImageReader``, which decodes
the whole JPEG to RGB only to name the image by the MD5 of its pixels (~10 ms per image of
a report, more for large ones); the JPEG bytes then go into the PDF unchanged anyway. Here
the canvas gets an object with the JPEG bytes (``jpeg_fh``, what reportlab reads JPEG data
from) and a name made from their MD5, so nothing is decoded; identical images are still
stored once.
"""

from __future__ import annotations

import hashlib
import io

from reportlab.platypus import Flowable


class _JpegSource:
    """What ``canvas.drawImage`` and ``PDFImageXObject`` need of a JPEG source."""

    def __init__(self, jpeg: bytes) -> None:
        self._jpeg = jpeg
        self._name = "jpeg-" + hashlib.md5(jpeg, usedforsecurity=False).hexdigest()

    def jpeg_fh(self) -> io.BytesIO:
        return io.BytesIO(self._jpeg)

    def __str__(self) -> str:  # drawImage names a non-ImageReader image by str(image)
        return self._name


class JpegPicture(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """``jpeg`` drawn ``width`` × ``height`` points."""

    def __init__(self, jpeg: bytes, width: float, height: float) -> None:
        super().__init__()
        self._source = _JpegSource(jpeg)
        self.width, self.height = width, height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        self.canv.drawImage(self._source, 0, 0, self.width, self.height)
