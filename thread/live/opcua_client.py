"""OPC UA client helpers shared by the ingest and the write-back (asyncua, imported lazily).

Node ids are written as OPC UA strings: `ns=2;s=Pump1.Speed`, or `nsu=URI;s=Pump1.Speed`,
which is resolved against the server's namespace array on connection (a namespace index
can change when a server is reconfigured; its URI does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from thread.errors import ThreadError

__all__ = [
    "OpcuaAccess",
    "OpcuaError",
    "display_endpoint",
    "new_client",
    "resolve_node",
    "write_and_read_back",
]


class OpcuaError(ThreadError):
    """The OPC UA server cannot be reached, or refused a read or a write."""


@dataclass(frozen=True)
class OpcuaAccess:
    """How to reach a server: its endpoint and, if it asks for them, a user and a security
    string (`Policy,Mode,certificate,private_key[,server_certificate]`, e.g.
    `Basic256Sha256,SignAndEncrypt,client.der,client.pem`)."""

    endpoint: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: str | None = None
    timeout_s: float = 4.0


async def new_client(access: OpcuaAccess, *, auto_reconnect: bool = False) -> Any:
    """An asyncua client configured for `access`, not yet connected.

    Raises:
        OpcuaError: the security string names unknown policies or unreadable files.
    """
    from asyncua.client.client import Client  # asyncua's __init__ does not re-export it

    client = Client(access.endpoint, timeout=access.timeout_s, auto_reconnect=auto_reconnect)
    if access.username:
        client.set_user(access.username)
    if access.password:
        client.set_password(access.password)
    if access.security:
        try:
            await client.set_security_string(access.security)
        except (OSError, ValueError, AttributeError) as exc:
            raise OpcuaError(f"OPC UA security {access.security.split(',')[0]!r}: {exc}") from None
    return client


def display_endpoint(endpoint: str) -> str:
    """The endpoint without credentials, safe to show and to record."""
    parts = urlsplit(endpoint)
    if parts.scheme != "opc.tcp" or not parts.hostname:
        raise OpcuaError(f"endpoint {endpoint!r}: use opc.tcp://HOST:PORT[/PATH]")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def resolve_node(client: Any, text: str) -> Any:
    """The node a node-id string names (`nsu=` resolved through the namespace array).

    Raises:
        OpcuaError: the namespace URI is unknown to the server.
    """
    if text.startswith("nsu="):
        uri, _, rest = text[4:].partition(";")
        try:
            index = await client.get_namespace_index(uri)
        except ValueError:
            raise OpcuaError(f"the server has no namespace {uri!r} (node {text})") from None
        text = f"ns={index};{rest}"
    return client.get_node(text)


async def write_and_read_back(client: Any, node_text: str, value: float) -> tuple[Any, Any]:
    """Write `value` to a node in its own data type and read it back.

    Returns:
        (the value before, the value read back after the write)

    Raises:
        OpcuaError: the node is unknown, not numeric, or the server refused the write.
    """
    from asyncua import ua
    from asyncua.ua.uaerrors import UaStatusCodeError  # ua does not re-export it

    node = await resolve_node(client, node_text)
    try:
        variant = await node.read_data_type_as_variant_type()
        before = await node.read_value()
        typed: Any = value
        if variant in (ua.VariantType.Float, ua.VariantType.Double):
            typed = float(value)
        elif variant == ua.VariantType.Boolean:
            typed = bool(value)
        elif variant.name.startswith(("Int", "UInt", "SByte", "Byte")):
            if float(value) != int(value):
                raise OpcuaError(
                    f"{node_text} holds whole numbers ({variant.name}); {value} is not one"
                )
            typed = int(value)
        else:
            raise OpcuaError(f"{node_text} is a {variant.name}, not a number Thread can set")
        await node.write_value(ua.DataValue(ua.Variant(typed, variant)))
        after = await node.read_value()
    except UaStatusCodeError as exc:
        raise OpcuaError(f"{node_text}: the server refused: {exc}") from None
    return before, after
