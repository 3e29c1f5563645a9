"""deploy/deploy.sh and the CI workflow without a Docker engine (issue 29): `bash -n`,
shellcheck (Debian's) and actionlint (pinned, `make actionlint`); the pre-checks refuse a
missing data root, too little space and placeholder or short secrets; the plan of a
deploy and of a rollback, in order, by `--dry-run`; the release bookkeeping."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BASH = shutil.which("bash") or "/bin/bash"
SCRIPT = ROOT / "deploy" / "deploy.sh"
GOOD = {"POSTGRES_PASSWORD": "p" * 24, "MINIO_ROOT_PASSWORD": "m" * 24, "TFLOW_ADMIN_KEY": "tf_admin_" + "a" * 24,
        "TFLOW_STREAM_SECRET": "s" * 32, "TFLOW_WEBHOOK_SECRET": "whsec_" + "w" * 24}


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`script` after sourcing deploy.sh's functions (DEPLOY_LIBRARY=1), in `cwd`."""
    clean = {k: v for k, v in os.environ.items() if k not in GOOD and not k.startswith("TFLOW_")}
    return subprocess.run([BASH, "-c", f'set -euo pipefail; DEPLOY_LIBRARY=1 . "{SCRIPT}"; {script}'], cwd=cwd,
                          capture_output=True, text=True, env={**clean, "TFLOW_DATA_ROOT": str(cwd), **env})


def write_env(folder: Path, **values: str) -> None:
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in {**GOOD, **values}.items()))


def test_the_script_is_valid_bash_and_clean_for_shellcheck():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make test installs it from Debian where apt-get can run)")
    checked = subprocess.run(["shellcheck", "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_ci_workflow_passes_actionlint():
    tool = os.environ.get("TFLOW_ACTIONLINT") or str(ROOT / ".tools" / "bin" / "actionlint")
    if not Path(tool).is_file():
        pytest.skip(f"actionlint not found at {tool} (make actionlint builds it)")
    checked = subprocess.run([tool, str(ROOT / ".github" / "workflows" / "ci.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(("values", "said"), [
    ({"TFLOW_ADMIN_KEY": "tf_admin_CHANGE_ME"}, "TFLOW_ADMIN_KEY is still the placeholder"),
    ({"POSTGRES_PASSWORD": "short"}, "POSTGRES_PASSWORD is shorter than 16"),
    ({"TFLOW_WEBHOOK_SECRET": ""}, "TFLOW_WEBHOOK_SECRET is not set"),
])
def test_the_secrets_check_names_what_is_wrong(tmp_path, values, said):
    write_env(tmp_path, **values)
    done = bash("check_secrets", tmp_path)
    assert done.returncode == 1 and said in done.stderr, done.stderr
    write_env(tmp_path)
    assert bash("check_secrets", tmp_path).returncode == 0


def test_the_data_root_and_its_free_space_are_checked(tmp_path):
    gone = bash("check_data_root", tmp_path, TFLOW_DATA_ROOT=str(tmp_path / "nope"))
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    assert bash("check_data_root; check_free_space", tmp_path, TFLOW_DEPLOY_MIN_FREE_GB="0").returncode == 0
    full = bash("check_free_space", tmp_path, TFLOW_DEPLOY_MIN_FREE_GB="100000000")
    assert full.returncode == 1 and "GB needed" in full.stderr


def test_the_engine_check_says_when_there_is_no_docker(tmp_path):
    done = bash("check_engine", tmp_path, PATH="/nonexistent")
    assert done.returncode == 1 and "docker is not installed" in done.stderr


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_a_deploy_backs_up_builds_migrates_rolls_the_api_checks_and_prunes_in_order(tmp_path):
    write_env(tmp_path)
    done = bash('main deploy --dry-run', tmp_path, TFLOW_VERSION="abc123", TFLOW_DEPLOY_MIN_FREE_GB="0")
    assert done.returncode == 0, done.stderr
    plan = commands(done.stdout)
    steps = ["docker compose run --rm backup backup", "docker compose build", "docker compose run --rm init migrate",
             "docker compose up -d --no-deps --no-recreate --scale api=2 api",
             "docker compose exec -T nginx nginx -s reload",
             "docker compose up -d --no-deps --no-recreate --scale api=1 api",
             "docker compose up -d --remove-orphans", "wait for https://localhost/health (180s)",
             "docker run --rm --network host -e TFLOW_ADMIN_KEY transcode-flow/app:abc123 smoke https://localhost",
             "docker image prune -f"]
    found = [next(i for i, c in enumerate(plan) if c.startswith(s)) for s in steps]
    assert found == sorted(found), plan
    assert "release abc123 (schema SCHEMA) is live" in done.stderr
    assert GOOD["TFLOW_ADMIN_KEY"] not in done.stdout + done.stderr  # the key is passed by name, never printed


def test_a_rollback_down_migrates_with_the_current_image_then_runs_the_previous_one(tmp_path):
    write_env(tmp_path)
    state = tmp_path / ".deploy"
    state.mkdir()
    (state / "releases").write_text("old1 20261201000009 2026-12-01T00:00:00Z\nnew2 20261207000010 2026-12-07T00:00:00Z\n")
    done = bash("main rollback --dry-run; status", tmp_path)
    assert done.returncode == 0, done.stderr
    plan = commands(done.stdout)
    assert plan[0] == "docker compose run --rm init migrate --down-to 20261201000009"
    assert any(c.startswith("docker run --rm --network host -e TFLOW_ADMIN_KEY transcode-flow/app:old1 smoke") for c in plan)
    assert "current  new2" in done.stdout and "previous old1" in done.stdout
    (state / "releases").write_text("only 20261207000010 2026-12-07T00:00:00Z\n")
    alone = bash("main rollback --dry-run", tmp_path)
    assert alone.returncode == 1 and "no previous release" in alone.stderr


def test_releases_are_recorded_and_dropped(tmp_path):
    done = bash('record_release a 1; record_release b 2; current_release; previous_release; drop_release; '
                'current_release; previous_release || echo "no previous"', tmp_path)
    lines = [line.split()[:2] for line in done.stdout.splitlines()]
    assert lines == [["b", "2"], ["a", "1"], ["a", "1"], ["no", "previous"]], done.stdout + done.stderr
