"""Loading an example script of `examples/` as a module, for tests of its parts."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def load_example(relative_path: str, name: str | None = None):
    """The script `examples/<relative_path>` imported as a module (its `__main__` block does not run)."""
    path = EXAMPLES / relative_path
    spec = importlib.util.spec_from_file_location(name or f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
