"""The README's Python examples run as written, from a checkout, and say what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of one `## section` of the README, in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], re.S)


def test_the_python_api_examples_run(tmp_path: Path) -> None:
    blocks = python_blocks("Python API")
    assert len(blocks) == 2
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # "run from a checkout"
    outputs = []
    for block in blocks:
        result = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 0, block + result.stderr
        outputs.append(result.stdout.splitlines())
    first, second = outputs
    assert first[-1].endswith("[{'uid': 'part:P-100'}]")
    assert second[0] == "0"
    assert "unit:P-100/SN-0012" in second[1]  # a unit that still holds the suspect lot
    assert "work_order" in second[2]
