"""The deployment files: compose.yaml's structure, the Dockerfile, nginx, .env.example and the deploy scripts.

`docker compose config` is not available in CI, so the compose file's structure is checked here instead.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from emailbot.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b|_KEY_", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_has_every_service_with_an_image_or_build(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "nginx"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name


def test_compose_services_have_health_checks_and_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "worker", "postgres", "redis", "nginx"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
    assert services["api"]["healthcheck"]["test"][1:3] == ["emailbot", "health"]
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["api"]["command"] == ["run", "--role", "api"]
    assert services["worker"]["command"] == ["run", "--role", "worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]


def test_compose_volumes_are_declared_and_mounted_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                if source.endswith(".conf"):
                    assert (ROOT / source).is_file(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    assert {"emailbot-data", "postgres-data", "redis-data"} <= declared


def test_compose_has_no_secrets_inline_and_reads_the_env_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form"
        for variable, value in environment.items():
            if SECRET_WORDS.search(variable):
                assert str(value).startswith("${"), f"{name}: {variable} is inline; use .env or a _FILE secret"
            assert not re.search(r"://[^/\s:@]+:[^@\s$]+@", str(value)), f"{name}: {variable} has a password"
    for name in ("api", "worker", "migrate"):
        assert compose["services"][name]["env_file"] == ".env"


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?(EMAILBOT_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert expected - named == set(), "settings missing from .env.example"
    assert named - expected == set(), ".env.example names variables that are not settings"


def test_dockerfile_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    users = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}
    assert re.search(r'^HEALTHCHECK .*\n?.*CMD \["emailbot", "health"', text, flags=re.MULTILINE)
    assert "uv sync --frozen --no-dev" in text


def test_nginx_terminates_tls_with_hsts_and_rate_limits() -> None:
    text = (ROOT / "deploy" / "nginx" / "emailbot.conf").read_text()
    for directive in (
        "listen 443 ssl",
        "ssl_certificate ",
        "Strict-Transport-Security",
        "limit_req_zone",
        "limit_req ",
    ):
        assert directive in text, directive
    assert "proxy_pass http://emailbot_api" in text
    assert "server api:8000" in text
    assert "Upgrade" not in text.replace("no Upgrade headers", "")
    assert text.count("{") == text.count("}")


SCRIPTS = {
    "backup.sh": "backup --verify",
    "backup_config.sh": "backup config",
    "restore.sh": "restore --yes",
    "daily_maintenance.sh": "maintenance daily",
    "weekly_maintenance.sh": "maintenance weekly",
    "monthly_maintenance.sh": "maintenance monthly",
    "health_check.sh": "health",
    "incident.sh": "incident collect",
}


@pytest.mark.parametrize(("script", "command"), SCRIPTS.items())
def test_deploy_scripts_call_the_cli(script: str, command: str) -> None:
    path = ROOT / "deploy" / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert f'${{EMAILBOT_CMD[@]}}" {command}' in path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_backup_script_runs_the_real_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "EMAILBOT": str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "emailbot"),
        "EMAILBOT_DATABASE_URL": f"sqlite:///{tmp_path}/emailbot.db",
        "EMAILBOT_DATA_DIR": str(tmp_path / "var"),
        "EMAILBOT_BACKUP_DIR": str(tmp_path / "backups"),
    }
    subprocess.run([env["EMAILBOT"], "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    result = subprocess.run(
        [str(ROOT / "deploy" / "backup.sh")], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "verified               yes" in result.stdout
    assert len(list((tmp_path / "backups").glob("emailbot-*Z.tar.gz"))) == 1
