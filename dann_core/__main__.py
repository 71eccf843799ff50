"""``python -m dann_core ...`` is the ``dann`` command (what ``torchrun -m dann_core`` starts)."""
from .cli import main

main()
