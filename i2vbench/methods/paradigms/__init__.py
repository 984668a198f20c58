"""The survey's transfer paradigms as reusable mechanisms that wrap any :class:`ILFM`.

- frozen features (III-A): :func:`freeze` the ILFM, read its features, train what comes after
  (post-network tuning) or beside it (:mod:`.side`: side-tuning).
- adapted features (III-B): :mod:`.adapter` inserts trainable temporal adapters into the frozen
  ILFM's blocks; :mod:`.lora` adds low-rank updates to its linear layers.

Task methods combine one of these with a task head, a loss and a recipe.
"""

from i2vbench.methods.paradigms.common import count_parameters, freeze, num_frames_context

__all__ = ["count_parameters", "freeze", "num_frames_context"]
