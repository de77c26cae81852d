"""voxgate: a safe gateway and an offline engine for OpenAI Realtime (GA) voice assistants.

Kept thin on purpose: importing :mod:`voxgate` must not drag in the web stack, SQL or the engine.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
