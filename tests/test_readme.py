"""The README's Python examples run as written."""
import re
from pathlib import Path

from streamproc import registry

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for code in blocks:
        with registry.scoped():  # a block may register its own task or reconstruction
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
