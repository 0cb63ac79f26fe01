"""The address screens on the venue LAN use to reach us (for absolute display URLs).

No packets are sent: we only ask the OS which addresses this machine's interfaces
have (``SIOCGIFADDR`` on Linux, the host name's addresses elsewhere).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys

SIOCGIFADDR = 0x8915


def _interface_addresses() -> list[str]:
    out: list[str] = []
    if sys.platform.startswith("linux"):
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _index, name in socket.if_nameindex():
                try:
                    packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
                except OSError:
                    continue
                out.append(socket.inet_ntoa(packed[20:24]))
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            out.append(str(info[4][0]))
    except OSError:
        pass
    return out


def lan_address(bind_host: str = "0.0.0.0") -> str:
    """The bound address if specific, else the first non-loopback IPv4 of this host."""
    if bind_host not in ("", "0.0.0.0", "::"):
        return bind_host
    for addr in _interface_addresses():
        ip = ipaddress.ip_address(addr)
        if not ip.is_loopback and not ip.is_link_local:
            return addr
    return "127.0.0.1"
