"""Shared test setup: anyio on asyncio, and no test may reach the network beyond this machine."""

from __future__ import annotations

import socket
from typing import Any

import pytest

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0:0:0:0:0:0:0:1"})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        return isinstance(host, str) and host.lower() in _LOCAL_HOSTS
    return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections and name lookups for anything but loopback (subprocesses are not covered)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(address: Any) -> OSError:
        return ConnectionRefusedError(f"tests must not use the network (tried to reach {address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address):
            raise refuse(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address):
            raise refuse(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, b"", "") and not _is_local((host.decode() if isinstance(host, bytes) else host,)):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
