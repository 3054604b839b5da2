"""dlib and the model files of the ``face_recognition_models`` package, loaded offline, once.

The files (Davis King's dlib models, public domain / CC0) ship inside the package; nothing is
downloaded. They are found through the package's import spec, without importing it: its own
``*_location()`` functions need ``pkg_resources``, which recent setuptools (84 here) no longer
ships.

- :func:`frontal_detector`: dlib's HOG + linear SVM frontal face detector (built into dlib).
- :func:`cnn_detector`: dlib's CNN face detector (MMOD), slower and surer.
- :func:`landmark_predictor`: the 68-point shape predictor (iBUG 300-W points: 0-16 jaw, 17-26
  brows, 27-35 nose, 36-41 and 42-47 the eyes, 48-67 the mouth; point ``i`` is image pixel
  ``(x, y)``, x to the right, y down).
- :func:`descriptor_network`: the ResNet that maps a 150x150 face chip to a 128-d descriptor.

Without the ``photos`` extra each raises :class:`PhotosExtraMissing`, one line naming the
install command.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from facebench.errors import FacebenchError

INSTALL = "pip install 'facebench[photos]'"
LANDMARKS_FILE = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"


class PhotosExtraMissing(FacebenchError):
    """dlib or face_recognition_models is not installed."""


def dlib():
    """The ``dlib`` module (from the ``dlib-bin`` wheel)."""
    try:
        import dlib as module
    except ImportError:
        raise PhotosExtraMissing(f"real photos need dlib: {INSTALL}") from None
    return module


def model_file(name: str) -> Path:
    """The path of the model file ``name`` in the installed face_recognition_models."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PhotosExtraMissing(f"real photos need the face_recognition_models package: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise PhotosExtraMissing(f"{path}: missing from face_recognition_models; reinstall: {INSTALL}")
    return path


@cache
def frontal_detector():
    """dlib's frontal face detector: ``run(image, upsample, threshold)`` -> boxes, scores, poses."""
    return dlib().get_frontal_face_detector()


@cache
def cnn_detector():
    """dlib's CNN face detector: ``detector(image, upsample)`` -> detections (``rect``, ``confidence``)."""
    return dlib().cnn_face_detection_model_v1(str(model_file(CNN_DETECTOR_FILE)))


@cache
def landmark_predictor():
    """The 68-point landmark predictor: ``predictor(image, box)`` -> a full_object_detection."""
    return dlib().shape_predictor(str(model_file(LANDMARKS_FILE)))


@cache
def descriptor_network():
    """dlib's face recognition ResNet: ``compute_face_descriptor(chips)`` -> 128-d vectors."""
    return dlib().face_recognition_model_v1(str(model_file(DESCRIPTOR_FILE)))
