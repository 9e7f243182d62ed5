"""The README's "How the parts fit" table against the tree: what it names exists, and every
package of the mock is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A backticked relative path (not a URL's, such as `/_mock/`): a folder (ending in /) or a file
# of the project's kinds.
PATH = re.compile(r"`([\w<>][\w./<>-]*(?:/|\.py|\.ya?ml|\.json))`")


def parts() -> dict[str, str]:
    """The table's rows: part -> what the README says of it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How the parts fit", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    found = {}
    for row in rows:
        part, said = row.strip("| ").split(" | ", 1)
        found[part.strip("`")] = said
    return found


def exists(part: Path, name: str) -> bool:
    """`name` stands for something in `part`: a path below it, or one ending so
    (`ports.py` for `domain/ports.py`); `<event>` is any name."""
    pattern = name.replace("<event>", "*").rstrip("/")
    if list(part.glob(pattern)):
        return True
    return any(part.glob(f"**/{pattern}"))


def test_every_part_and_every_path_it_names_exists() -> None:
    for part, said in parts().items():
        assert list(ROOT.glob(part.replace("<event>", "*").rstrip("/"))), part
        base = ROOT / part if (ROOT / part).is_dir() else ROOT
        missing = [name for name in PATH.findall(said) if not exists(base, name)]
        assert missing == [], (part, missing)


def test_every_package_of_the_mock_is_named() -> None:
    said = parts()["mock_server/"]
    named = set(PATH.findall(said))
    packages = {
        p.parent.name for p in (ROOT / "mock_server").glob("*/__init__.py")
    } | {p.name for p in (ROOT / "mock_server").iterdir() if p.is_dir() and any(p.glob("*.js"))}
    assert {f"{name}/" for name in packages} <= named, sorted(packages)
