"""Real photographs in, FFHQ-aligned card images out (``facebench data import``).

``dlib_models``: dlib and its shipped model files (the ``photos`` extra); ``faces``: the one face
in a photo; ``align``: FFHQ's alignment from 68 landmarks; ``importer``: the folder walk, the
train/test split, the atomic write and the report.
"""

from facebench.data.photos.importer import NothingImported, PhotoImportError, Report, import_photos

__all__ = ["NothingImported", "PhotoImportError", "Report", "import_photos"]
