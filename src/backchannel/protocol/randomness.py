"""Where the core's own randomness comes from: a function from a length to bytes.

Callers pass one in (tests pass a seeded one); the default is the operating system's.
vodozemac and ML-KEM draw their randomness internally and cannot be given one, and
sealing always uses the operating system's (see ``sealing.seal``).
"""

from collections.abc import Callable

Rng = Callable[[int], bytes]
