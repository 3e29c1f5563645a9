"""The runbooks' text (issue 29): every runbook the index lists exists, in the order the
live test runs them; each gives commands for compose and for the embedded stack; every
block is valid bash; the troubleshooting and security pages exist and are linked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUNBOOKS = ROOT / "docs" / "runbooks"
#: The order the live test runs them in (the index's): disaster recovery last, it replaces ./data.
ORDER = ("restart", "scale-worker", "rotate-keys", "reprocess", "dead-letters", "stuck-job", "disk-full",
         "backup-restore", "upgrade-rollback", "disaster-recovery")


def blocks(path: Path, kind: str) -> list[str]:
    """The fenced `sh <kind>` blocks of a runbook, in order."""
    return re.findall(rf"^```sh {kind}\n(.*?)^```$", path.read_text(), re.MULTILINE | re.DOTALL)


def test_the_index_lists_every_runbook_in_the_order_they_run():
    index = (RUNBOOKS / "README.md").read_text()
    listed = re.findall(r"^\| \[[^\]]+\]\(([\w-]+)\.md\)", index, re.MULTILINE)
    assert tuple(listed) == ORDER
    assert {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"} == set(ORDER)
    assert "(../troubleshooting.md)" in index and "(../security.md)" in index
    for page in ("troubleshooting.md", "security.md"):
        assert len((ROOT / "docs" / page).read_text()) > 2000, page


@pytest.mark.parametrize("name", ORDER)
def test_each_runbook_has_compose_and_embedded_commands_in_valid_bash(name):
    path = RUNBOOKS / f"{name}.md"
    for kind in ("compose", "embedded"):
        found = blocks(path, kind)
        assert found, f"{name}.md has no `sh {kind}` block"
        for block in found:
            checked = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
            assert checked.returncode == 0, f"{name}.md: {checked.stderr}\n{block}"


def test_a_block_is_found_whole(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("text\n```sh embedded\ntflow status\necho ```\n```\n```sh compose\ndocker compose ps\n```\n")
    assert blocks(page, "embedded") == ["tflow status\necho ```\n"]
    assert blocks(page, "compose") == ["docker compose ps\n"]
