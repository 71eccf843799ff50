"""``python -m dann_core ...`` is the ``dann`` command (what ``torchrun -m dann_core`` starts)."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the CLI itself imports (a busy machine): as main() does later
    sys.exit(130)

main()
