"""Configuration in one place: a typed settings object built from defaults, file and env.

Precedence (lowest to highest): built-in defaults, ``DIR/settings.json``,
environment variables, explicit arguments (CLI flags).  The data dir comes from
platformdirs unless ``RACE_CONTROL_DATA_DIR`` or ``--data-dir`` says otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import platformdirs

from race_control.private_files import private_dir, write_private_text

ENV_DATA_DIR = "RACE_CONTROL_DATA_DIR"
ENV_API_TOKEN = "RACE_CONTROL_API_TOKEN"
ENV_CTP01_USERS = "RACE_CONTROL_CTP01_USERS"
ENV_CENTRAL_URL = "RACE_CONTROL_CENTRAL_URL"
SETTINGS_FILE = "settings.json"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    host: str = "0.0.0.0"
    http_port: int = 8080
    timing_port: int = 61611
    public_host: str = ""  # address put in display URLs; "" = detect the LAN address
    timezone: str = ""  # "" = the machine's local zone
    duplicate_window: float = 30.0
    # automatic backups into DIR/backups/ (store/backup.py): every backup_interval seconds while
    # reads arrive (0 = only at shutdown) and at clean shutdown, the newest backup_keep kept (0 = none)
    backup_interval: float = 600.0
    backup_keep: int = 12
    api_token: str = ""  # "" = read/create DIR/api-token
    decoders: tuple[str, ...] = ()  # RACE RESULT decoders to connect to, each "host[:port]" (3601)
    # CTP01 authentication asked of ChronoTrack clients: none | plaintext | hmac-sha1 | hmac-md5 |
    # seed-sha1 | seed-md5; the accounts come from env RACE_CONTROL_CTP01_USERS ("user:password,...")
    ctp01_authentication: str = "none"
    # networks timing clients may connect from, each a CIDR ("192.168.1.0/24"; an address = /32);
    # () = any (others are refused at accept: race_control.timing.transports.ctp01_listener)
    timing_allow: tuple[str, ...] = ()
    # experimental features switched on/off in settings.json ({"name": true}); race_control.flags
    # knows the names and adds env RACE_CONTROL_FEATURES on top (an unknown name fails start-up)
    features: dict[str, bool] = field(default_factory=dict, hash=False)
    # resource caps against a stranger (or a broken device) on the LAN, each logged and alerted
    # (`cap_reached`) when hit; docs/operations.md#limits
    max_timing_connections: int = 64  # CTP01 clients connected at once; more are closed at accept
    max_unidentified_lines: int = 10_000  # lines a timing client may send before naming its stream
    max_unidentified_bytes: int = 4 * 1024 * 1024  # ...and bytes
    max_client_write_buffer: int = 1024 * 1024  # unsent bytes to a timing client before it is closed
    max_screens_per_session: int = 500
    max_screens_per_address: int = 50
    max_store_catchups: int = 8  # screens' catch-up pages read from the store at once
    resume_interval: float = 2.0  # seconds between two store catch-ups of one screen
    # central sync (docs/sync.md): the partner URL (postgresql://login@host:port/db; "" = no sync).
    # Env RACE_CONTROL_CENTRAL_URL wins over settings.json, --central-url over both.  Its password
    # may live in the keyring instead (race_control.secrets, "central-password"); settings.json
    # never gets one (to_json drops it)
    central_url: str = ""
    central_retry_min: float = 1.0  # seconds before the first retry of a failed round, doubling...
    central_retry_max: float = 60.0  # ...up to this
    central_backlog_alert: float = 300.0  # alert when the oldest row not yet central is this old (s)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "race-control.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["data_dir"] = str(self.data_dir)
        d.pop("api_token")
        d["central_url"] = url_without_password(self.central_url)
        return d


def url_without_password(url: str) -> str:
    """``url`` with its password left out (``postgresql://login@host:port/db``)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return url.split("://", 1)[0] + "://…" if "@" in url else url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (quote(unquote(parts.username), safe="") + "@" if parts.username else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def default_data_dir() -> Path:
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("race-control", "RaceControl"))


def load_settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    """Build settings for ``data_dir`` (or the default), applying file, env and overrides."""
    base = Path(data_dir).expanduser() if data_dir else default_data_dir()
    settings = Settings(data_dir=base)
    file = base / SETTINGS_FILE
    if file.is_file():
        try:
            stored = json.loads(file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read settings file {file}: {exc}") from exc
        known = {f.name for f in fields(Settings)} - {"data_dir", "api_token"}
        settings = replace(settings, **{k: v for k, v in stored.items() if k in known})
        features = settings.features
        if not isinstance(features, dict) or not all(
            isinstance(k, str) and isinstance(v, bool) for k, v in features.items()
        ):
            raise ValueError(
                f'settings file {file}: "features" must be an object of flag names to true/false'
            )
        allow = settings.timing_allow
        if not isinstance(allow, list | tuple) or not all(isinstance(a, str) for a in allow):
            raise ValueError(f'settings file {file}: "timing_allow" must be a list of networks (CIDR)')
        try:
            timing_networks(allow)
        except ValueError as exc:
            raise ValueError(f"settings file {file}: timing_allow: {exc}") from None
        settings = replace(settings, timing_allow=tuple(allow))
    token = os.environ.get(ENV_API_TOKEN)
    if token:
        settings = replace(settings, api_token=token)
    central = os.environ.get(ENV_CENTRAL_URL)
    if central:
        settings = replace(settings, central_url=central.strip())
    if not isinstance(settings.central_url, str):
        raise ValueError(f'settings file {file}: "central_url" must be a string (postgresql://…)')
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(settings, **clean)


def save_settings(settings: Settings) -> None:
    private_dir(settings.data_dir)
    write_private_text(settings.data_dir / SETTINGS_FILE, json.dumps(settings.to_json(), indent=2))


def local_timezone() -> str:
    """The machine's IANA zone name (``TZ``, /etc/timezone, /etc/localtime), else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz:
        return tz
    try:
        text = Path("/etc/timezone").read_text("utf-8").strip()
        if text:
            return text
    except OSError:
        pass
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"


def timing_networks(items: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """``timing_allow`` as networks; ValueError naming the first entry that is not one."""
    out = []
    for item in items:
        try:
            out.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{item[:64]!r} is not a network (CIDR like 192.168.1.0/24, or one address)"
            ) from None
    return tuple(out)


def timing_exposure(settings: Settings) -> str:
    """The recommendation shown where timing is set up while any host on the network may
    send reads as any stream (no CTP01 authentication, no allow-list, not loopback only);
    "" when something guards the timing port."""
    if settings.ctp01_authentication != "none" or settings.timing_allow:
        return ""
    try:
        if ip_address(settings.host).is_loopback:
            return ""
    except ValueError:
        pass
    return (
        "Any computer on this network can connect to the timing port and send reads. Turn on "
        "CTP01 authentication (--ctp01-auth with RACE_CONTROL_CTP01_USERS) and/or allow only "
        "your timing network (--timing-allow CIDR, or Settings → Timing clients)."
    )


def ctp01_credentials() -> dict[str, str]:
    """CTP01 client accounts from the environment (never from files, never logged)."""
    out: dict[str, str] = {}
    for item in os.environ.get(ENV_CTP01_USERS, "").split(","):
        user, sep, password = item.strip().partition(":")
        if sep and user and password:
            out[user] = password
    return out
