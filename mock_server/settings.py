"""The mock's configuration: read once from YAML (or the embedded default), checked, typed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

_HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG_PATH = _HERE / "default_config.yaml"
CONFIG_SCHEMA_PATH = _HERE / "config.schema.json"

DURATION_UNITS = {"s": 1, "m": 60, "d": 86400}


@cache
def _config_validator() -> jsonschema.Draft202012Validator:
    """config.schema.json, with the regions a pool number may have taken from the spec."""
    from .spec import OPENAPI_DIR, load_yaml

    schema = json.loads(CONFIG_SCHEMA_PATH.read_text(encoding="utf-8"))
    region = load_yaml(OPENAPI_DIR / "exobridge.yaml")["components"]["schemas"]["Region"]
    pool_number = schema["$defs"]["tenant"]["properties"]["numbers"]["items"]
    pool_number["properties"]["region"] = {"enum": region["enum"]}
    return jsonschema.Draft202012Validator(schema)


class ConfigError(ValueError):
    pass


@cache
def longest_duration() -> int:
    """The longest deallocation duration, in seconds, as the spec states it
    (`DeallocationPolicy.duration`'s `x-maximum-seconds`)."""
    from .spec import OPENAPI_DIR, load_yaml

    schemas = load_yaml(OPENAPI_DIR / "exobridge.yaml")["components"]["schemas"]
    limit: int = schemas["DeallocationPolicy"]["properties"]["duration"]["x-maximum-seconds"]
    return limit


def parse_duration(text: str) -> int:
    """Seconds in "20s", "10m", "2d" (s seconds, m minutes, d days), at most `longest_duration`."""
    number, unit = text[:-1], text[-1]
    digits = number.isascii() and number.isdigit()
    if unit not in DURATION_UNITS or not digits or int(number) <= 0:
        raise ValueError(f"{text!r} is not a duration like 20s, 10m or 2d")
    seconds = int(number) * DURATION_UNITS[unit]
    if seconds > longest_duration():
        raise ValueError(
            f"{text!r} is longer than the longest duration, {longest_duration() // 86400}d"
        )
    return seconds


def _present(**values: Any) -> dict[str, Any]:
    """The values that were given (not None)."""
    return {name: value for name, value in values.items() if value is not None}


def _duration(tenant: dict[str, Any], source: str, tenant_id: str) -> int:
    try:
        return parse_duration(tenant["default_deallocation"])
    except ValueError as exc:
        raise ConfigError(f"{source}: tenants/{tenant_id}/default_deallocation: {exc}") from None


@dataclass(frozen=True)
class PoolNumber:
    number: str
    region: str
    type: str
    connect_url: str | None = None


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    credentials: tuple[tuple[str, str], ...]
    numbers: tuple[PoolNumber, ...]
    default_deallocation_seconds: int = 180 * 86400
    pins_a: bool = True
    pins_b: bool = False
    bulk_limit: int = 100
    flows: tuple[str, ...] = ()
    callback_urls: dict[str, str] = field(default_factory=dict)

    pool: dict[str, PoolNumber] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", {n.number: n for n in self.numbers})

    def pool_number(self, number: str) -> PoolNumber | None:
        return self.pool.get(number)


@dataclass(frozen=True)
class ChaosSettings:
    duplicate_probability: float = 0.0
    reorder: bool = False
    max_delay_seconds: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.duplicate_probability > 0 or self.reorder or self.max_delay_seconds > 0


@dataclass(frozen=True)
class CallbackSettings:
    # One attempt (connect, send, answer) as a whole.
    timeout_seconds: float = 15.0
    retry_delays_seconds: tuple[float, ...] = (1.0, 5.0)
    signing_secret: str | None = None
    chaos: ChaosSettings = ChaosSettings()
    # Deliveries in flight at once, in all and to one destination (scheme, host and port).
    workers: int = 128
    per_host: int = 8
    # Log entries kept; pending deliveries are never dropped, finished ones go oldest first.
    retention: int = 10_000
    # How much of a receiver's answer is read (its status decides; the body is not used).
    max_answer_bytes: int = 65536
    # Each retry delay varies by up to this fraction either way.
    jitter: float = 0.1
    # When not empty, the only hosts callbacks and Connect requests may go to.
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectionLimits:
    """What one HTTP connection may send before its request is refused (enforced where the
    server reads the bytes: `serving.py`)."""

    # The request line and every header together; 431 beyond.
    max_header_bytes: int = 32768
    # Header fields in one request; 431 beyond.
    max_headers: int = 100
    # From the connection (or the previous answer) to the end of the headers: 408 and closed.
    header_timeout_seconds: float = 10.0
    # From the end of the headers to the end of the body: closed.
    body_timeout_seconds: float = 30.0
    # Open connections; when full, a new one displaces the connection that has waited longest
    # for its request's headers. Capped below the open-file limit (see `serving.capacity`).
    max_connections: int = 4096


@dataclass(frozen=True)
class Settings:
    tenants: dict[str, Tenant]
    callbacks: CallbackSettings = CallbackSettings()
    max_body_bytes: int = 1048576
    connections: ConnectionLimits = ConnectionLimits()

    @classmethod
    def from_mapping(
        cls, raw: Any, source: str = "configuration", lines: LineOf | None = None
    ) -> Settings:
        """Settings from a mapping; ConfigError, in one line naming `source` (and with `lines`,
        the line of each problem), when it is not valid."""
        errors = sorted(_config_validator().iter_errors(raw), key=lambda e: e.path)
        if errors:
            found = []
            for e in errors[:5]:
                path = list(e.absolute_path)
                where = f"line {lines(path)}, " if lines is not None else ""
                found.append(f"{where}{'/'.join(map(str, path)) or '(top)'}: {e.message[:200]}")
            raise ConfigError(f"{source} is not valid: " + "; ".join(found))
        tenants = {}
        seen_numbers: dict[str, str] = {}
        seen_keys: dict[str, str] = {}
        for tenant_id, t in raw["tenants"].items():
            for n in t["numbers"]:
                if n["number"] in seen_numbers:
                    first = seen_numbers[n["number"]]
                    raise ConfigError(
                        f"{source}: {n['number']} is listed twice in the pool of {tenant_id}"
                        if first == tenant_id
                        else f"{source}: {n['number']} is in the pools of both {first} and "
                        f"{tenant_id}"
                    )
                seen_numbers[n["number"]] = tenant_id
            for c in t["credentials"]:
                if c["api_key"] in seen_keys:
                    raise ConfigError(f"{source}: api_key {c['api_key']!r} is used twice")
                seen_keys[c["api_key"]] = tenant_id
            pins = t.get("pins", {})
            # What the file leaves out takes the dataclasses' defaults, stated there only.
            given: dict[str, Any] = _present(
                pins_a=pins.get("a"),
                pins_b=pins.get("b"),
                bulk_limit=t.get("bulk_limit"),
                flows=tuple(t["flows"]) if "flows" in t else None,
                callback_urls=dict(t["callback_urls"]) if "callback_urls" in t else None,
            )
            if "default_deallocation" in t:
                given["default_deallocation_seconds"] = _duration(t, source, tenant_id)
            tenants[tenant_id] = Tenant(
                tenant_id=tenant_id,
                credentials=tuple((c["api_key"], c["api_token"]) for c in t["credentials"]),
                numbers=tuple(PoolNumber(**n) for n in t["numbers"]),
                **given,
            )
        cb = dict(raw.get("callbacks", {}))
        callbacks = CallbackSettings(
            **{
                k: v for k, v in cb.items()
                if k not in ("retry_delays_seconds", "chaos", "allowed_hosts")
            },
            **_present(
                retry_delays_seconds=tuple(cb["retry_delays_seconds"])
                if "retry_delays_seconds" in cb else None,
                allowed_hosts=tuple(cb["allowed_hosts"]) if "allowed_hosts" in cb else None,
            ),
            chaos=ChaosSettings(**cb.get("chaos", {})),
        )
        limits = dict(raw.get("limits", {}))
        return cls(
            tenants=tenants,
            callbacks=callbacks,
            connections=ConnectionLimits(
                **{k: v for k, v in limits.items() if k != "max_body_bytes"}
            ),
            **_present(max_body_bytes=limits.get("max_body_bytes")),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> Settings:
        """The file's settings, or the embedded default when no file is given."""
        source = Path(path) if path else DEFAULT_CONFIG_PATH
        try:
            with source.open("rb") as file:
                data = file.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{source} is over {MAX_CONFIG_BYTES:,} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source} is not UTF-8 text (byte {exc.start})") from None
        raw, lines = read_yaml(text, str(source))
        return cls.from_mapping(raw, str(source), lines)


# A configuration is a page or two of YAML; far more is a mistake or an attack.
MAX_CONFIG_BYTES = 1_048_576
LineOf = Callable[[list[Any]], int]


class _StrictLoader(yaml.SafeLoader):
    """YAML without aliases (a few lines of nested aliases can expand to gigabytes) and without
    duplicate keys (a second `demo:` would silently replace the first)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                problem=f"an alias (*{event.anchor}) is not allowed here; write the value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"key {str(key)[:50]!r} is given twice (first on line {seen[key]})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(text: str, source: str) -> tuple[Any, LineOf]:
    """The document, and a way to find the line of a value by its path; ConfigError naming
    `source` and the line on a syntax error, an alias or a duplicate key."""
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}{where}: {exc.problem}"[:300]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {exc}"[:300]) from None

    def line_of(path: list[Any]) -> int:
        node = root
        for step in path:
            if isinstance(node, yaml.MappingNode):
                found = [v for k, v in node.value if k.value == str(step)]
                if not found:
                    break
                node = found[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                node = node.value[step]
            else:
                break
        return int(node.start_mark.line) + 1 if node is not None else 1

    return raw, line_of
