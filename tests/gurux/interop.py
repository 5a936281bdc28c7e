"""A DLMS client that is not ours against `amirange gateway`: the Gurux DLMS library for
Python (gurux-dlms 1.0.203, GPLv2, run as an external test program only; never linked into
or copied into amirange). tests/it/gateway.rs starts the gateway and runs this script:

    python3 tests/gurux/interop.py HOST PORT METER PASSWORD TITLE_HEX BLOCK_KEY_HEX AUTH_KEY_HEX

It prints one line per check ("name: value") for the Rust test to compare with the engine,
and exits non-zero on the first thing that fails.
"""

import sys

import link as gurux_link

from gurux_dlms import GXDLMSClient
from gurux_dlms.GXDLMSGateway import GXDLMSGateway
from gurux_dlms.enums import Authentication, DataType, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSDisconnectControl, GXDLMSProfileGeneric, GXDLMSRegister
from gurux_dlms.secure import GXDLMSSecureClient

host, port, meter, password, title, block_key, auth_key = sys.argv[1:8]
wport = int(meter) + 1


def Link():
    """A new connection to the gateway."""
    return gurux_link.Link(host, port, 20)


def open_association(link, client):
    reply = link.exchange(client, client.aarqRequest())
    client.parseAareResponse(reply.data)
    if client.authentication > Authentication.LOW:
        reply = link.exchange(client, client.getApplicationAssociationRequest())
        client.parseApplicationAssociationResponse(reply.data)


def read(link, client, obj, attribute):
    reply = link.exchange(client, client.read(obj, attribute))
    client.updateValue(obj, attribute, reply.value)
    return reply.value


# 1. The public client reads the clock, the energy register and the relay.
link = Link()
public = GXDLMSClient(True, 16, wport, Authentication.NONE, None, InterfaceType.WRAPPER)
open_association(link, public)
clock = GXDLMSClock("0.0.1.0.0.255")
read(link, public, clock, 2)
print(f"public clock: {clock.time.value.strftime('%Y-%m-%dT%H:%M:%S')}")
register = GXDLMSRegister("1.0.1.8.0.255")
print(f"public register: {read(link, public, register, 2)}")
relay = GXDLMSDisconnectControl("0.0.96.3.10.255")
print(f"public relay connected: {read(link, public, relay, 2)}")

# 1b. Through the gateway protocol (network 0, the meter's serial number as its physical
#     address), the same meter answers whatever the wrapper's wPort says.
via = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
via.gateway = GXDLMSGateway()
via.gateway.networkId = 0
via.gateway.physicalDeviceAddress = bytes(f"AMR{int(meter):08d}", "ascii")
link = Link()
open_association(link, via)
print(f"gateway register: {read(link, via, register, 2)}")

# 2. A wrong password is refused.
wrong = GXDLMSClient(True, 17, wport, Authentication.LOW, "not-it-00", InterfaceType.WRAPPER)
try:
    open_association(Link(), wrong)
    print("wrong password: accepted")
except Exception as error:  # Gurux raises on a rejected AARE
    print(f"wrong password: refused ({type(error).__name__})")

# 3. The password client reads a range of the load profile and disconnects the meter.
low = GXDLMSClient(True, 17, wport, Authentication.LOW, password, InterfaceType.WRAPPER)
link = Link()
open_association(link, low)
profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
read(link, low, profile, 3)
read(link, low, profile, 2)
entries = profile.buffer
print(f"low profile entries: {len(entries)}")
first, last = entries[0][0], entries[-1][0]
rows = link.exchange(low, low.readRowsByRange(profile, first, last)).value
print(f"low profile by range: {len(rows)} rows, last {rows[-1][1]} Wh")
print(f"low profile last: {entries[-1][1]} Wh at {last.value.strftime('%Y-%m-%dT%H:%M:%S')}")
reply = link.exchange(low, low.method(relay, 1, 0, DataType.INT8))
print(f"low remote_disconnect: error {reply.error}")

# 4. HLS-GMAC with suite 0 ciphering under the meter's keys reads the register; a captured
#    ciphered request sent again is refused.
hls = GXDLMSSecureClient(True, 1, wport, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
hls.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
hls.ciphering.systemTitle = bytes.fromhex(title)
hls.ciphering.blockCipherKey = bytes.fromhex(block_key)
hls.ciphering.authenticationKey = bytes.fromhex(auth_key)
link = Link()
open_association(link, hls)
print(f"hls register: {read(link, hls, register, 2)}")
captured = link.last_sent
answer = link.raw(captured)
# An exception response (tag 0xD8) after the 8-byte wrapper header: refused.
print(f"hls replay: {'refused' if answer[8] == 0xD8 else 'answered'}")

# 5. A wrong key is refused at association.
bad = GXDLMSSecureClient(True, 1, wport, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
bad.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
bad.ciphering.systemTitle = bytes.fromhex(title)
bad.ciphering.blockCipherKey = bytes(16)
bad.ciphering.authenticationKey = bytes.fromhex(auth_key)
try:
    open_association(Link(), bad)
    print("wrong key: accepted")
except Exception as error:
    print(f"wrong key: refused ({type(error).__name__})")
print("interop: ok")
