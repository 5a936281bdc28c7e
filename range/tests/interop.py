#!/usr/bin/env python3
"""Interoperability check: a QUIC client that is not ours (aioquic) against the range server.

Usage: interop.py HOST:PORT TOKEN [PIN]

TOKEN is a valid team token; PIN, if given, is the server certificate's SHA-256 fingerprint
(the certificate is otherwise not verified: the server's is self-signed). Checks, following
range/PROTOCOL.md: a request before hello gets an `error` and the stream ends; a wrong token
gets an `error` alone and the connection closes; the right token gets `welcome`, and a
`snapshot` request is `accepted` with a `result`. Prints "interop: ok" and exits 0, or prints
what failed and exits 1 (2 for bad arguments).

Run by range/tests/it/interop.rs, which starts the server.
"""

import asyncio
import hashlib
import json
import ssl
import struct
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration

ALPN = "amirange/1"
VERSION = 1
TIMEOUT_S = 10


class Failed(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Failed(what)


def frame(message):
    """A frame: 4-byte big-endian length, the version byte, one JSON object."""
    body = bytes([VERSION]) + json.dumps(message).encode("utf-8")
    return struct.pack(">I", len(body)) + body


async def read_frame(reader):
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError as e:
        expect(not e.partial, "the stream ended inside a frame's length")
        return None
    (length,) = struct.unpack(">I", head)
    expect(0 < length <= 16 * 1024 * 1024, f"a frame length of {length}")
    body = await reader.readexactly(length)
    expect(body[0] == VERSION, f"frame version {body[0]}")
    message = json.loads(body[1:].decode("utf-8"))
    expect(isinstance(message, dict) and "type" in message, f"not a message: {message!r}")
    return message


async def read_all(reader):
    """Every message until the server ends the stream."""
    messages = []
    while True:
        m = await asyncio.wait_for(read_frame(reader), TIMEOUT_S)
        if m is None:
            return messages
        messages.append(m)


def release(writer):
    """Closes a stream's writing side, if the server has not already stopped it (which makes
    aioquic raise, here or later when the writer is collected)."""
    try:
        writer.close()
    except (RuntimeError, ValueError):
        pass


def configuration():
    return QuicConfiguration(is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE)


def check_connection(client, pin):
    tls = client._quic.tls
    expect(tls.alpn_negotiated == ALPN, f"ALPN {tls.alpn_negotiated!r}")
    if pin is None:
        return
    cert = getattr(tls, "_peer_certificate", None)
    expect(cert is not None, "no peer certificate to check the pin against")
    from cryptography.hazmat.primitives.serialization import Encoding

    got = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    expect(got == pin.replace(":", "").lower(), f"certificate fingerprint {got}, pinned {pin}")


async def run(host, port, token, pin):
    async with connect(host, port, configuration=configuration()) as client:
        check_connection(client, pin)

        # A request before hello: an error, and the stream ends.
        reader, writer = await client.create_stream()
        writer.write(frame({"type": "request", "id": 1, "action": {"action": "snapshot"}}))
        got = await read_all(reader)
        expect(len(got) == 1 and got[0]["type"] == "error", f"no hello: {got!r}")
        expect("hello" in got[0]["message"], f"the error names the fault: {got!r}")
        release(writer)
        print(f"interop: request before hello -> error {got[0]['message']!r}")

        # A wrong token: an error and nothing else; the server closes the connection.
        reader, writer = await client.create_stream()
        writer.write(frame({"type": "hello", "token": "not-the-token-0123456789", "client": "aioquic"}))
        got = await read_all(reader)
        expect(got == [{"type": "error", "message": "unknown token"}], f"wrong token: {got!r}")
        release(writer)
        print(f"interop: wrong token -> error {got[0]['message']!r}")

    async with connect(host, port, configuration=configuration()) as client:
        check_connection(client, pin)
        reader, writer = await client.create_stream()
        writer.write(frame({"type": "hello", "token": token, "client": "aioquic interop"}))
        welcome = await asyncio.wait_for(read_frame(reader), TIMEOUT_S)
        expect(welcome is not None and welcome["type"] == "welcome", f"welcome: {welcome!r}")
        expect(welcome["protocol"] == VERSION, f"protocol {welcome['protocol']!r}")
        print(f"interop: hello -> welcome to {welcome['exercise']!r} as {welcome['team']!r} ({welcome['role']})")

        writer.write(frame({"type": "request", "id": 7, "action": {"action": "snapshot"}}))
        answer = await asyncio.wait_for(read_frame(reader), TIMEOUT_S)
        expect(answer is not None and answer["type"] == "accepted", f"snapshot: {answer!r}")
        expect(answer["id"] == 7 and "result" in answer and "at_s" in answer, f"snapshot: {answer!r}")
        print(f"interop: snapshot -> accepted at {answer['at_s']} s with {json.dumps(answer['result'])[:80]}")

        writer.write(frame({"type": "bye"}))
        release(writer)
        rest = await read_all(reader)
        expect(rest == [], f"after bye: {rest!r}")


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    host, _, port = argv[1].rpartition(":")
    host = host.strip("[]")
    token = argv[2]
    pin = argv[3] if len(argv) == 4 else None
    try:
        asyncio.run(asyncio.wait_for(run(host, int(port), token, pin), 60))
    except Failed as e:
        print(f"interop: FAILED: {e}")
        return 1
    except Exception as e:  # noqa: BLE001 - any other fault is a failure, named
        print(f"interop: FAILED: {type(e).__name__}: {e}")
        return 1
    print("interop: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
