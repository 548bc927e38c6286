"""compose.yaml and the Dockerfile, checked statically (no Docker needed).

The deployment must be configured only through ``MACHIPAY_*`` variables the app really reads,
start in the right order (healthy PostgreSQL and Redis, then a migration that succeeded, then
the API) and run the API with several workers sharing Redis.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url

from machipay.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

PREFIX = "MACHIPAY_"
APP_SERVICES = ("migrate", "api", "worker")  # the services running the machipay image
SECRETS = (
    "MACHIPAY_SECRET_KEY",
    "MACHIPAY_FUNDING_WEBHOOK_SECRET",
    "MACHIPAY_ANALYTICS_PSEUDONYM_SECRET",
    "MACHIPAY_SMS_GATEWAY_URL",
    "MACHIPAY_SMS_API_KEY",
)
STRONG = "s" * 48  # stands in for a secret the user provides
GATEWAY = "https://sms-gateway.example/v1/messages"  # stands in for the user's gateway

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def interpolate(value: Any, provided: dict[str, str] | None = None) -> str:
    """Resolve compose ``${...}`` the way ``docker compose`` would with ``provided`` set."""
    provided = provided or {}

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in provided:
            return provided[name]
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            raise AssertionError(f"${{{name}}} is required ({arg}) and was not provided")
        return ""

    return _INTERPOLATION.sub(resolve, str(value))


@cache
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "compose.yaml must be a mapping"
    return document


def service(name: str) -> dict[str, Any]:
    services = compose().get("services") or {}
    assert name in services, f"compose.yaml has no service {name!r} (has {sorted(services)})"
    return dict(services[name])


def environment(name: str) -> dict[str, str]:
    """A service's environment as a mapping, whether written as a mapping or a list."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def resolved_environment(name: str) -> dict[str, str]:
    provided = dict.fromkeys(SECRETS, STRONG) | {"MACHIPAY_SMS_GATEWAY_URL": GATEWAY}
    return {key: interpolate(value, provided) for key, value in environment(name).items()}


def command(name: str) -> list[str]:
    raw = service(name).get("command")
    assert raw, f"service {name!r} has no command"
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def depends_on(name: str) -> dict[str, dict[str, Any]]:
    raw = service(name).get("depends_on") or {}
    if isinstance(raw, list):  # the short form carries no condition
        return {dependency: {} for dependency in raw}
    return {key: dict(value or {}) for key, value in raw.items()}


def healthcheck_test(name: str) -> str:
    check = service(name).get("healthcheck") or {}
    test = check.get("test")
    assert test, f"service {name!r} has no healthcheck"
    return " ".join(test) if isinstance(test, list) else str(test)


def dockerfile_instructions() -> list[tuple[str, str]]:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


# compose.yaml


def test_compose_specification_format() -> None:
    assert "version" not in compose(), (
        "compose.yaml follows the Compose Specification: drop the obsolete top-level `version:`"
    )
    for name in ("postgres", "redis", *APP_SERVICES):
        service(name)


def test_postgres_and_redis_have_healthchecks() -> None:
    assert "pg_isready" in healthcheck_test("postgres"), "postgres must be checked with pg_isready"
    assert "ping" in healthcheck_test("redis"), "redis must be checked with `redis-cli ping`"


def test_startup_order() -> None:
    api = depends_on("api")
    expected = {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    for dependency, condition in expected.items():
        assert dependency in api, f"api must depend on {dependency}"
        assert api[dependency].get("condition") == condition, (
            f"api must wait for {dependency} with condition {condition}, "
            f"got {api[dependency].get('condition')!r}"
        )
    migrate = depends_on("migrate")
    assert migrate.get("postgres", {}).get("condition") == "service_healthy", (
        "migrate must wait for a healthy postgres"
    )
    assert command("migrate")[:2] == ["machipay", "migrate"], (
        f"migrate must run `machipay migrate`, runs {command('migrate')}"
    )
    assert str(service("migrate").get("restart", "no")) == "no", (
        'migrate is one-shot: restart must be "no" (quoted: a bare no is YAML false)'
    )


def test_only_machipay_variables_configure_the_app() -> None:
    for name in APP_SERVICES:
        env = environment(name)
        assert env, f"service {name!r} gets no environment"
        for key in env:
            assert key.startswith(PREFIX), (
                f"service {name!r} sets {key}: the app is configured only through {PREFIX}* variables"
            )


def test_every_variable_is_a_setting_the_app_reads() -> None:
    assert Settings.model_config.get("env_prefix") == PREFIX, "Settings no longer reads MACHIPAY_*"
    fields = set(Settings.model_fields)
    for name in APP_SERVICES:
        for key in environment(name):
            field = key.removeprefix(PREFIX).lower()
            assert field in fields, (
                f"service {name!r} sets {key}, but Settings has no field {field!r}: "
                "the app would silently ignore it (a typo?)"
            )


def test_values_are_valid_production_settings() -> None:
    for name in APP_SERVICES:
        values: dict[str, Any] = {
            key.removeprefix(PREFIX).lower(): value
            for key, value in resolved_environment(name).items()
        }
        # Strings, as the environment would give them; the process's own env and .env are
        # not consulted for the fields compose sets (init values win).
        settings = Settings(_env_file=None, **values)
        assert settings.environment == "production", f"{name} must run with environment=production"
        settings.refuse_unsafe_secrets()


def test_secrets_come_from_the_user_and_are_required() -> None:
    for name in APP_SERVICES:
        env = environment(name)
        for secret in SECRETS:
            assert secret in env, f"service {name!r} must get {secret}"
            assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]+\}", env[secret]), (
                f"{name}: {secret} must be `${{VAR:?message}}` so compose refuses to start "
                f"without it (no default, no literal secret in the file); got {env[secret]!r}"
            )


def test_database_url_points_at_the_postgres_service() -> None:
    postgres_env = {
        key: interpolate(value)
        for key, value in (service("postgres").get("environment") or {}).items()
    }
    for name in APP_SERVICES:
        raw = resolved_environment(name).get("MACHIPAY_DATABASE_URL")
        assert raw, f"service {name!r} has no MACHIPAY_DATABASE_URL"
        url = make_url(raw)
        assert url.drivername == "postgresql+asyncpg", (
            f"{name}: MACHIPAY_DATABASE_URL must use postgresql+asyncpg, got {url.drivername}"
        )
        assert url.host == "postgres", (
            f"{name}: database host must be the postgres service, got {url.host}"
        )
        assert url.port in (None, 5432), f"{name}: postgres listens on 5432, got {url.port}"
        assert url.database == postgres_env.get("POSTGRES_DB"), (
            f"{name}: database {url.database!r} is not POSTGRES_DB {postgres_env.get('POSTGRES_DB')!r}"
        )
        assert url.username == postgres_env.get("POSTGRES_USER"), (
            f"{name}: user {url.username!r} is not POSTGRES_USER {postgres_env.get('POSTGRES_USER')!r}"
        )
        assert url.password == postgres_env.get("POSTGRES_PASSWORD"), (
            f"{name}: the URL's password does not match the postgres service's POSTGRES_PASSWORD"
        )
    assert (
        environment("migrate")["MACHIPAY_DATABASE_URL"]
        == environment("api")["MACHIPAY_DATABASE_URL"]
    ), "migrate must migrate the database the api serves"


def test_redis_url_points_at_the_redis_service() -> None:
    for name in APP_SERVICES:
        raw = resolved_environment(name).get("MACHIPAY_REDIS_URL")
        assert raw, (
            f"service {name!r} has no MACHIPAY_REDIS_URL (several workers need a shared cache)"
        )
        url = urlsplit(raw)
        assert url.scheme in ("redis", "rediss"), (
            f"{name}: MACHIPAY_REDIS_URL must be redis://, got {raw}"
        )
        assert url.hostname == "redis", (
            f"{name}: redis host must be the redis service, got {url.hostname}"
        )


def test_api_serves_with_several_workers_and_is_checked_for_readiness() -> None:
    argv = command("api")
    assert argv[:2] == ["machipay", "serve"], f"api must run `machipay serve`, runs {argv}"
    workers = None
    for index, part in enumerate(argv):
        if part == "--workers" and index + 1 < len(argv):
            workers = argv[index + 1]
        elif part.startswith("--workers="):
            workers = part.partition("=")[2]
    workers = workers or environment("api").get("MACHIPAY_WORKERS", "1")
    assert int(workers) > 1, f"api must run more than one worker, runs {workers}"
    assert "--host" in argv and argv[argv.index("--host") + 1] == "0.0.0.0", (  # noqa: S104
        "api must bind 0.0.0.0 inside the container to be reachable through the published port"
    )
    assert "/readyz" in healthcheck_test("api"), "api's healthcheck must hit /readyz (readiness)"
    assert any(str(port).endswith(":8000") for port in service("api").get("ports", [])), (
        "api must publish container port 8000"
    )


# Dockerfile


def test_dockerfile_cmd_serves_the_api() -> None:
    cmds = [rest for keyword, rest in dockerfile_instructions() if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    argv = json.loads(cmds[-1])  # exec form, so the server is PID 1 and gets SIGTERM
    assert argv[:2] == ["machipay", "serve"], (
        f"the Dockerfile's CMD must run `machipay serve`, runs {argv}"
    )
    assert "0.0.0.0" in argv, "the Dockerfile's CMD must bind 0.0.0.0"  # noqa: S104


def test_dockerfile_runs_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    assert instructions and instructions[0][0] in ("FROM", "ARG"), "the Dockerfile must start FROM"
    assert any(k == "FROM" and v.startswith("python:3.11-slim") for k, v in instructions), (
        "the image is based on python:3.11-slim"
    )
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"


def test_dockerfile_copies_every_installed_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(fnmatch.fnmatch(path.name, p) for p in patterns)
    )
    assert packages, "no packages found from pyproject's packages.find include"
    copied = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "COPY")
    for package in packages:
        assert re.search(rf"(^|\s|/){re.escape(package)}/?(\s|$)", copied), (
            f"the Dockerfile does not COPY package {package!r}: the installed app would lack it"
        )


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    assert DOCKERIGNORE.is_file(), f"{DOCKERIGNORE} is missing"
    ignored = {
        line.strip().rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    }
    for entry in (".env", ".venv", ".git", "var"):
        assert entry in ignored, f".dockerignore must exclude {entry}"
