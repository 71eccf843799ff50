"""Where the tests find the repository and their own files, wherever a test module sits under tests/."""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TEST_PLUGINS = TESTS / "plugins"
TEST_DATA = TESTS / "data"
