"""Where callbacks and Connect requests may go: URLs the mock can request, hosts it may, and
the destination a URL counts against."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

import httpx

from .connect_fetch import short

# The spec's maxLength for every URL a request may set (CallStatusCallback, mock-control.yaml);
# checked here again for URLs that come from the configuration or an older state file.
MAX_URL_LENGTH = 2048


def url_problem(url: str, allowed_hosts: Sequence[str] = ()) -> str | None:
    """Why a callback or Connect URL cannot be requested (None when it can): not a URL, or,
    with `allowed_hosts` (`callbacks.allowed_hosts`), a host outside them."""
    if len(url) > MAX_URL_LENGTH:
        return f"invalid URL: longer than {MAX_URL_LENGTH} characters"
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes an internationalised name, which may be malformed
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError) as exc:  # IDNAError is a ValueError
        return short(f"invalid URL {url[:100]!r}: {exc}")
    if parsed.scheme not in ("http", "https") or not host:
        return short(f"invalid URL {url[:100]!r}: an http or https URL with a host is expected")
    if port is not None and not 0 < port < 65536:
        return short(f"invalid URL {url[:100]!r}: port {port} is not 1 to 65535")
    if not _ip(host) and not _HOST_NAME.fullmatch(parsed.raw_host.decode("ascii")):
        return short(f"invalid URL {url[:100]!r}: {host[:60]!r} is not a host name")
    if allowed_hosts and not host_allowed(host, allowed_hosts):
        return short(f"host {host[:60]!r} is not in callbacks.allowed_hosts")
    return None


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether the host is one of `allowed_hosts`: a name (`hooks.example.com`), a name's
    subdomains (`*.example.com`), or an address (`127.0.0.1`, `::1`)."""
    address = _ip(host)
    name = str(address) if address is not None else host.lower().rstrip(".")
    for allowed in allowed_hosts:
        pattern = allowed.lower().strip("[]")
        if pattern.startswith("*.") and address is None and name.endswith(pattern[1:]):
            return True
        allowed_address = _ip(pattern)
        if name == (str(allowed_address) if allowed_address is not None else pattern):
            return True
    return False


# Letters, digits and hyphens in dot-separated labels (underscores too, which some hosts use).
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                        r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def destination(url: str) -> str:
    """Scheme, host and port: what the per-destination limit counts. An address is written one
    way (`[::ffff:127.0.0.1]` is `127.0.0.1`); a name is compared without case."""
    parsed = httpx.URL(url)
    address = _ip(parsed.host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    host = str(address) if address is not None else parsed.host.lower().rstrip(".")
    return f"{parsed.scheme}://{host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
