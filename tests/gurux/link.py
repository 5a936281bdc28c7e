"""The TCP link the Gurux test programs (interop.py, red_disconnect.py) talk to amirange over:
one connection that sends a Gurux client's frames and feeds the answers back to it. Gurux
(gurux-dlms 1.0.203, GPLv2) is run as an external test program only; never linked into or
copied into amirange."""

import socket

from gurux_dlms import GXByteBuffer, GXReplyData


class Link:
    """One TCP connection; sends a client's frames and feeds the answers back to it."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.last_sent = None

    def exchange(self, client, frames):
        reply = GXReplyData()
        for frame in frames:
            reply = self.one(client, bytes(frame))
        while reply.isMoreData():
            reply = self.one(client, bytes(client.receiverReady(reply)), reply)
        return reply

    def one(self, client, frame, reply=None):
        self.last_sent = frame
        self.sock.sendall(frame)
        reply = reply or GXReplyData()
        buffer = GXByteBuffer()
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("amirange closed the connection")
            buffer.set(chunk)
            buffer.position = 0
            if client.getData(buffer, reply):
                return reply

    def raw(self, frame):
        """Sends bytes as they are and returns the raw answer."""
        self.sock.sendall(frame)
        return self.sock.recv(65536)
