"""Settings: endpoints per role, debate options, and where API keys come from.

Keys are looked up at the moment a debate needs them (an environment variable named per
role, or a key typed into the settings dialog that lives only in memory). No function here
writes, prints or logs a key; ``RoleEndpoint.__repr__`` hides it.

A role's endpoint is of one of two kinds (``provider``): ``openai`` (OpenAI and every
OpenAI-compatible server, reached at ``base_url``) or ``azure`` (Azure OpenAI: an
``azure_endpoint`` such as https://NAME.openai.azure.com, the deployment in place of the
model name, an ``api_version``, and the key in $AZURE_OPENAI_API_KEY unless named otherwise).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vhd_gui.protocol import DEFAULT_FRAMES, DEFAULT_ROUNDS, Role

APP_NAME = "vhd-annotator"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL = "https://api.openai.com/v1"
PROVIDERS = ("openai", "azure")
AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"  # the openai library's own defaults for Azure
AZURE_ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
AZURE_API_VERSION_ENV = "OPENAI_API_VERSION"
# The newest generally available version of Azure's data-plane inference API that serves
# /openai/deployments/{deployment}/chat/completions with stream usage.
DEFAULT_AZURE_API_VERSION = "2024-10-21"
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")


class ConfigError(ValueError):
    """A settings problem a person can fix; str() is one line."""


REVIEWER_MAX_CHARS = 100


def default_reviewer() -> str:
    """Who decides when neither ``--reviewer`` nor the settings name anyone: the system user.

    ``getpass.getuser`` reads $LOGNAME, $USER, $LNAME, $USERNAME, then the password database;
    a container may have none of them, so the numeric user id (or "unnamed") stands in.
    A reviewer name says who labelled what; it proves nothing (it is not a login).
    """
    try:
        name = getpass.getuser().strip()
    except (OSError, KeyError, ImportError):
        name = ""
    if name and not reviewer_problem(name):
        return name
    return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unnamed"


def reviewer_problem(name: str) -> str:
    """Why ``name`` cannot name a reviewer ('' when it can): blank, too long, or holding
    control characters (it is shown in lists and written into exports)."""
    if not name.strip():
        return "a reviewer name cannot be blank"
    if name != name.strip():
        return f"a reviewer name cannot start or end with spaces: {name!r}"
    if len(name) > REVIEWER_MAX_CHARS:
        return f"a reviewer name is at most {REVIEWER_MAX_CHARS} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"a reviewer name cannot hold control characters: {name!r}"
    return ""


def check_reviewer(name: str, where: str = "reviewer") -> str:
    """``name`` when it can name a reviewer, else a ConfigError saying why."""
    problem = reviewer_problem(name)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return name


def config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where the app keeps stores that cannot live beside their media (read-only folders)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "settings.toml"


def default_key_env(provider: str) -> str:
    """The variable a key is read from when none is named: the openai library's default."""
    return AZURE_KEY_ENV if provider == "azure" else DEFAULT_KEY_ENV


@dataclass(slots=True)
class RoleEndpoint:
    base_url: str = ""  # empty: $OPENAI_BASE_URL, else OpenAI
    model: str = ""  # empty: the default model; for Azure, the deployment name
    api_key_env: str = DEFAULT_KEY_ENV
    temperature: float | None = None
    max_tokens: int | None = None
    provider: str = "openai"  # openai | azure
    azure_endpoint: str = ""  # Azure only; empty: $AZURE_OPENAI_ENDPOINT
    api_version: str = ""  # Azure only; empty: $OPENAI_API_VERSION, else DEFAULT_AZURE_API_VERSION
    # A key typed into the settings dialog or read from an OAI_CONFIG_LIST: memory only.
    api_key: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        azure = f", provider='azure', api_version={self.resolved_api_version()!r}" if self.is_azure else ""
        return f"RoleEndpoint(base_url={self.resolved_base_url()!r}, model={self.model!r}{azure}, api_key_env={self.api_key_env!r}, key={key})"

    @property
    def is_azure(self) -> bool:
        return self.provider == "azure"

    def resolved_base_url(self) -> str:
        """The server: for Azure its endpoint (empty when neither the settings nor
        $AZURE_OPENAI_ENDPOINT name one), else the OpenAI-compatible base URL."""
        if self.is_azure:
            return (self.azure_endpoint or os.environ.get(AZURE_ENDPOINT_ENV) or "").strip().rstrip("/")
        return (self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL).rstrip("/")

    def resolved_model(self) -> str:
        return self.model or DEFAULT_MODEL

    def resolved_api_version(self) -> str:
        return (self.api_version or os.environ.get(AZURE_API_VERSION_ENV) or DEFAULT_AZURE_API_VERSION).strip()

    def resolve_key(self) -> str:
        """The key to send. A local server without a key gets a placeholder (they ignore it)."""
        if self.is_azure and not self.resolved_base_url():
            raise ConfigError(
                f"no Azure OpenAI endpoint: set azure_endpoint (https://NAME.openai.azure.com) in the settings, "
                f"--base-url with --provider azure, or the environment variable {AZURE_ENDPOINT_ENV}"
            )
        if self.api_key:
            return self.api_key
        var = self.api_key_env or default_key_env(self.provider)
        value = os.environ.get(var, "").strip()
        if value:
            return value
        if is_local_url(self.resolved_base_url()):
            return "no-key-needed"
        raise ConfigError(f"no API key: set the environment variable {var} (or choose another with --api-key-env) for {self.resolved_base_url()}")

    def public(self) -> dict[str, str]:
        """What may be stored with a result: server and model, never the key."""
        return {"base_url": self.resolved_base_url(), "model": self.resolved_model()}


def is_local_url(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.") or host.endswith(".local")


#: How video frames are chosen (the same names as vhd_gui.media.SAMPLING_MODES, which this
#: light module does not import).
SAMPLING_MODES = ("exact", "keyframes")


@dataclass(slots=True)
class Settings:
    endpoints: dict[str, RoleEndpoint] = field(default_factory=lambda: {r.value: RoleEndpoint() for r in Role})
    rounds: int = DEFAULT_ROUNDS
    frames: int = DEFAULT_FRAMES
    max_side: int = 1024
    sampling: str = "exact"  # video frames: exact (evenly spread) | keyframes (the nearest keyframes; fast)
    layout: str = "flat"  # flat | chat
    preset: str = ""  # built-in name or file; empty = the built-in one for the media kind
    examples_folder: str = ""  # overrides the preset's [examples] folder when set
    critic: bool = False
    turn_timeout: float = 180.0  # overall deadline per turn, seconds
    read_timeout: float = 60.0  # the openai client's per-read timeout
    attempts: int = 4  # tries per turn on 429/5xx/timeouts
    retry_base_delay: float = 0.5  # first backoff when the server gives no Retry-After; doubles
    request_logprobs: bool = True  # ask the judge's endpoint for log-probabilities (dropped if it refuses)
    price_in_per_1k: float = 0.0025  # USD per 1k prompt tokens (uncached)
    price_cached_in_per_1k: float = 0.00125
    price_out_per_1k: float = 0.01
    # Who this person is in a shared project (the top-level ``reviewer`` key of the settings
    # file); empty: the system user name (see resolved_reviewer). Not an authentication.
    reviewer: str = ""

    def resolved_reviewer(self) -> str:
        """The name human decisions are recorded under: the settings' reviewer, else the system user."""
        return self.reviewer or default_reviewer()

    # The default annotation store of the commands that take --store: an SQLite file, or a
    # postgresql:// URL (team mode). Top-level `store = "..."` in the file, never a password.
    store: str = ""

    def endpoint(self, role: Role | str) -> RoleEndpoint:
        return self.endpoints[Role(role).value]

    def cost_usd(self, prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> float:
        uncached = max(0, prompt_tokens - cached_tokens)
        return (
            uncached * self.price_in_per_1k + cached_tokens * self.price_cached_in_per_1k + completion_tokens * self.price_out_per_1k
        ) / 1000.0


_ENDPOINT_KEYS = ("provider", "base_url", "azure_endpoint", "api_version", "model", "api_key_env", "temperature", "max_tokens")
# Accepted in a settings file: Azure's word for the model name, in the role's section.
_ENDPOINT_ALIASES = {"deployment": "model"}
_TOP_LEVEL_KEYS = ("reviewer", "store")
_DEBATE_KEYS = tuple(f.name for f in fields(Settings) if f.name not in ("endpoints", *_TOP_LEVEL_KEYS))


def settings_from_data(data: Mapping[str, Any], where: str = "settings") -> Settings:
    """Build settings from a parsed TOML document.

    ``[endpoint]`` gives defaults for every role; ``[roles.<role>]`` overrides them;
    ``[debate]`` holds the rest; ``reviewer`` (top level) names the person who decides. A key found in the file is refused: keys live in the
    environment, not in files that get shared.
    """
    s = Settings()
    roles = dict(data.get("roles", {}) or {})
    for bad in [k for k in roles if k not in {r.value for r in Role}]:
        raise ConfigError(f"{where}: unknown role [roles.{bad}] (use affirmative, negative, judge or critic)")
    base = _endpoint_section(data.get("endpoint", {}) or {}, "[endpoint]", where)
    roles = {name: _endpoint_section(section or {}, f"[roles.{name}]", where) for name, section in roles.items()}
    for role in Role:
        merged = {**base, **(roles.get(role.value) or {})}
        s.endpoints[role.value] = _endpoint_from(merged, where)
    store = data.get("store", "")
    if not isinstance(store, str):
        raise ConfigError(f"{where}: store must be a file path or a postgresql:// URL, not {store!r}")
    s.store = store.strip()
    debate = dict(data.get("debate", {}) or {})
    unknown = set(debate) - set(_DEBATE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown [debate] setting(s) {', '.join(sorted(unknown))}")
    for key, value in debate.items():
        current = getattr(s, key)
        try:
            value = type(current)(value) if not isinstance(current, bool) else bool(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: [debate] {key} has a wrong type: {value!r}") from None
        setattr(s, key, value)
    reviewer = data.get("reviewer", "")
    if not isinstance(reviewer, str):
        raise ConfigError(f"{where}: reviewer must be a text (a name), not {reviewer!r}")
    s.reviewer = check_reviewer(reviewer, f"{where}: reviewer") if reviewer else ""
    validate(s, where)
    return s


def _endpoint_section(section: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    """One endpoint table of a settings file, checked, with ``deployment`` read as ``model``."""
    out = dict(section)
    if "api_key" in out:
        raise ConfigError(f"{where}: holds an api_key; put the key in an environment variable and name it with api_key_env")
    unknown = set(out) - set(_ENDPOINT_KEYS) - set(_ENDPOINT_ALIASES)
    if unknown:
        raise ConfigError(f"{where}: unknown endpoint setting(s) {', '.join(sorted(unknown))}")
    for alias, key in _ENDPOINT_ALIASES.items():
        if alias in out:
            if key in out:
                raise ConfigError(f"{where}: {name} gives both {alias} and {key}; they name the same thing, keep one")
            out[key] = out.pop(alias)
    return out


def _endpoint_from(d: Mapping[str, Any], where: str) -> RoleEndpoint:
    provider = str(d.get("provider", "openai") or "openai")
    try:
        return RoleEndpoint(
            base_url=str(d.get("base_url", "") or ""),
            model=str(d.get("model", "") or ""),
            api_key_env=str(d.get("api_key_env", "") or default_key_env(provider)),
            temperature=None if d.get("temperature") is None else float(d["temperature"]),
            max_tokens=None if d.get("max_tokens") is None else int(d["max_tokens"]),
            provider=provider,
            azure_endpoint=str(d.get("azure_endpoint", "") or ""),
            api_version=str(d.get("api_version", "") or ""),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad endpoint value: {exc}") from None


def store_url_problem(target: str) -> str:
    """Why a store target may not be kept in a file ('' when it may): a URL with a password."""
    if target.split("://", 1)[0].lower() not in ("postgresql", "postgres") or "://" not in target:
        return ""  # (the store's own test, vhd_gui.store_api.is_server_url; config imports no store module)
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(target)
        has_password = bool(parts.password) or any(k.lower() == "password" for k, _ in parse_qsl(parts.query))
    except ValueError:
        return "the store URL cannot be read"
    if has_password:
        return (
            "the store URL holds a password, which is never kept in a file: remove it from the URL and put it in"
            " ~/.pgpass (or the PGPASSWORD variable, or a PGSERVICE entry)"
        )
    return ""


def validate(s: Settings, where: str = "settings") -> None:
    problem = store_url_problem(s.store)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    if s.rounds < 1:
        raise ConfigError(f"{where}: rounds must be at least 1")
    if s.frames < 1:
        raise ConfigError(f"{where}: frames must be at least 1")
    if s.max_side < 64:
        raise ConfigError(f"{where}: max_side must be at least 64 pixels")
    if s.sampling not in SAMPLING_MODES:
        raise ConfigError(f"{where}: sampling must be 'exact' or 'keyframes', not {s.sampling!r}")
    if s.layout not in ("flat", "chat"):
        raise ConfigError(f"{where}: layout must be 'flat' or 'chat'")
    if s.turn_timeout <= 0 or s.read_timeout <= 0:
        raise ConfigError(f"{where}: timeouts must be positive")
    if s.attempts < 1:
        raise ConfigError(f"{where}: attempts must be at least 1")
    for role, ep in s.endpoints.items():
        if ep.provider not in PROVIDERS:
            raise ConfigError(f"{where}: {role} provider must be 'openai' or 'azure', not {ep.provider!r}")
        if ep.base_url and urlparse(ep.base_url).scheme not in ("http", "https"):
            raise ConfigError(f"{where}: {role} base_url must start with http:// or https://: {ep.base_url!r}")
        if ep.azure_endpoint and urlparse(ep.azure_endpoint).scheme not in ("http", "https"):
            raise ConfigError(f"{where}: {role} azure_endpoint must start with https:// (e.g. https://NAME.openai.azure.com): {ep.azure_endpoint!r}")
        if ep.is_azure:
            version = ep.resolved_api_version()
            if not _API_VERSION.fullmatch(version):
                raise ConfigError(f"{where}: {role} api_version {version!r} is not an Azure OpenAI API version (e.g. {DEFAULT_AZURE_API_VERSION})")


def load_settings(path: str | Path | None = None) -> Settings:
    """Settings from a TOML file, or from an autogen OAI_CONFIG_LIST (JSON) file.

    With no path, the user's settings file is read if it exists, else defaults apply.
    """
    p = Path(path) if path else settings_path()
    if not p.exists():
        if path:
            raise ConfigError(f"config file not found: {p}")
        return Settings()
    try:
        raw = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from None
    if p.suffix.lower() == ".json" or raw.lstrip()[:1] in ("[", "{"):
        try:
            json.loads(raw)
        except ValueError:
            if p.suffix.lower() == ".json":
                return settings_from_oai_config_list(raw, str(p))  # reports the JSON error
        else:
            return settings_from_oai_config_list(raw, str(p))
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {p} is not valid TOML: {exc}") from None
    return settings_from_data(data, str(p))


def settings_from_oai_config_list(text: str, where: str = "OAI_CONFIG_LIST", model: str | None = None) -> Settings:
    """Use an autogen ``OAI_CONFIG_LIST`` (a JSON list of {model, api_key, base_url, ...}).

    The entry for ``model`` (or the first) serves every role. A key in the list is held in
    memory only; it is never copied to our settings file.
    """
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{where}: an OAI_CONFIG_LIST must be a non-empty JSON list of objects")
    chosen = entries[0]
    if model:
        matches = [e for e in entries if e.get("model") == model]
        if not matches:
            raise ConfigError(f"{where}: no entry for model {model!r}")
        chosen = matches[0]
    if not chosen.get("model"):
        raise ConfigError(f"{where}: the entry has no 'model'")
    url = str(chosen.get("base_url") or chosen.get("api_base") or "")
    if str(chosen.get("api_type") or "").lower() == "azure":
        # AutoGen's Azure entries: base_url is the endpoint, model the deployment.
        ep = RoleEndpoint(
            provider="azure",
            azure_endpoint=url,
            model=str(chosen.get("azure_deployment") or chosen["model"]),
            api_version=str(chosen.get("api_version") or ""),
            api_key_env=AZURE_KEY_ENV,
            api_key=chosen.get("api_key") or None,
        )
    else:
        ep = RoleEndpoint(base_url=url, model=str(chosen["model"]), api_key=chosen.get("api_key") or None)
    s = Settings()
    s.endpoints = {r.value: replace(ep) for r in Role}
    for r in Role:
        s.endpoints[r.value].api_key = ep.api_key
    validate(s, where)
    return s


def apply_overrides(s: Settings, args: Any) -> Settings:
    """Apply the common command-line options on top of the settings.

    ``--provider`` comes first: switching a role to Azure also moves its key variable to
    $AZURE_OPENAI_API_KEY unless the settings named another (and back for OpenAI), and
    ``--base-url`` then sets the server of the role's kind (for Azure, its endpoint).
    """
    for role in Role:
        ep = s.endpoints[role.value]
        provider = getattr(args, "provider", None)
        if provider and provider != ep.provider:
            if ep.api_key_env == default_key_env(ep.provider):
                ep.api_key_env = default_key_env(provider)
            ep.provider = provider
        if getattr(args, "api_version", None) and ep.is_azure:
            ep.api_version = args.api_version
        if getattr(args, "base_url", None):
            if ep.is_azure:
                ep.azure_endpoint = args.base_url
            else:
                ep.base_url = args.base_url
        if getattr(args, "model", None):
            ep.model = args.model
        if getattr(args, "api_key_env", None):
            ep.api_key_env = args.api_key_env
            ep.api_key = None
    if getattr(args, "api_version", None) and not any(ep.is_azure for ep in s.endpoints.values()):
        raise ConfigError("--api-version applies to Azure OpenAI endpoints only: add --provider azure (or provider = \"azure\" in the settings)")
    for name, attr in (("rounds", "rounds"), ("frames", "frames"), ("max_side", "max_side"), ("sampling", "sampling"), ("layout", "layout"),
                       ("preset", "preset"), ("examples_folder", "examples_folder"), ("timeout", "turn_timeout")):
        value = getattr(args, name, None)
        if value is not None:
            setattr(s, attr, value)
    if getattr(args, "critic", None):
        s.critic = True
    if getattr(args, "reviewer", None):
        s.reviewer = check_reviewer(args.reviewer, "--reviewer")
    validate(s, "command line")
    return s


def settings_to_toml(s: Settings) -> str:
    """The settings as TOML, for the settings file. Keys are not part of it."""
    problem = store_url_problem(s.store)
    if problem:
        raise ConfigError(f"settings not saved: {problem}")
    lines = ["# VHD Annotator settings. API keys do not belong here: name an environment variable with api_key_env.", ""]
    if s.store:
        lines += [f"store = {_toml_value(s.store)}", ""]
    if s.reviewer:
        lines += ["# Who you are in a shared project (a name, not a login).", f"reviewer = {_toml_value(s.reviewer)}", ""]
    lines.append("[debate]")
    for key in _DEBATE_KEYS:
        lines.append(f"{key} = {_toml_value(getattr(s, key))}")
    for role in Role:
        ep = s.endpoints[role.value]
        lines += ["", f"[roles.{role.value}]"]
        for key in _ENDPOINT_KEYS:
            value = getattr(ep, key)
            if key == "provider" and value == "openai":
                continue  # the default kind: files of earlier versions look the same
            if value is not None and value != "":
                name = "deployment" if key == "model" and ep.is_azure else key
                lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)


def save_settings(s: Settings, path: str | Path | None = None) -> Path:
    p = Path(path) if path else settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(settings_to_toml(s), encoding="utf-8")
    os.replace(tmp, p)
    return p
