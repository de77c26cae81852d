"""Offline speech components behind small interfaces (see :mod:`voxgate.engine.speech.base`)."""
