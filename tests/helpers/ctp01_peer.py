"""A hand-written raw CTP01 client for tests: we control every byte and packet boundary."""

from __future__ import annotations

import asyncio
import weakref


class RawCtp01Client:
    # every client still open, so a fixture can close what a failed test left behind (an unclosed
    # writer collected after its loop closed warns in whichever later test the collector runs)
    opened: weakref.WeakSet[RawCtp01Client] = weakref.WeakSet()

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []
        RawCtp01Client.opened.add(self)

    @classmethod
    async def close_all(cls) -> None:
        for client in list(cls.opened):
            await client.close()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawCtp01Client:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes, *, chunk: int = 0) -> None:
        """Send bytes, optionally split into ``chunk``-sized packets with a pause between."""
        if chunk <= 0:
            self.writer.write(data)
            await self.writer.drain()
            return
        for i in range(0, len(data), chunk):
            self.writer.write(data[i : i + chunk])
            await self.writer.drain()
            await asyncio.sleep(0.001)

    async def line(self, timeout: float = 5.0) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise ConnectionError("server closed the connection")
        text = raw.decode("latin-1").rstrip("\r\n")
        self.received.append(text)
        return text

    async def until(self, wanted: str, timeout: float = 5.0) -> list[str]:
        """Read lines until one equals ``wanted``; return all lines read."""
        seen = []
        while True:
            text = await self.line(timeout)
            seen.append(text)
            if text == wanted:
                return seen

    async def handshake(self, connection_id: str, locations: tuple[str, ...] = ("finish",)) -> list[str]:
        """Greet like SimpleClient, answer the server's queries, return the start commands."""
        await self.send(b"SimpleClient~1.2.3~CTP01\r\n")
        header = await self.line()
        count = int(header.split("~")[2])
        for _ in range(count):
            await self.line()
        commands = [await self.line() for _ in range(3)]
        assert sorted(commands) == ["getconnectionid", "geteventinfo", "getlocations"], commands
        await self.send(
            b"ack~geteventinfo~Test Race~42~Test race\r\n"
            + ("ack~getlocations~" + "~".join(locations) + "\r\n").encode()
            + f"ack~getconnectionid~{connection_id}\r\n".encode()
        )
        return [await self.line() for _ in locations]

    async def close(self) -> None:
        RawCtp01Client.opened.discard(self)
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
