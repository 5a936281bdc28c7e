"""Records the frames in dlms/tests/gurux_vectors.rs from the Gurux DLMS library, and checks
that Gurux accepts the answers amirange's encoder gives.

The Gurux library (the Python package gurux-dlms, GPLv2) runs here as an external program only; no part
of it is linked into or copied into amirange. Run once to (re)record:

    python3 -m venv /tmp/gx && /tmp/gx/bin/pip install gurux-dlms==1.0.203
    /tmp/gx/bin/python dlms/tests/vectors/record.py

and paste the printed hex into the tests. The keys are the DLMS Green Book's example keys.
"""

from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.GXDLMSGateway import GXDLMSGateway
from gurux_dlms.enums import Authentication, DataType, InterfaceType, Security
from gurux_dlms.objects import GXDLMSClock, GXDLMSDisconnectControl, GXDLMSRegister
from gurux_dlms.secure import GXDLMSSecureClient

# What amirange's encoder answers in the HLS handshake below (see gurux_vectors.rs,
# `OUR_AARE` and `OUR_HLS_ANSWER`): Gurux must accept both.
OUR_AARE = (
    "00010001000100636161a109060760857405080103a203020100a305a10302010ea40a0408414d523030303031"
    "88020780890760857405080205aa0a8008503677524a323146be230421281f3000000001510402c75647c0f023"
    "a74ba95413bb5fcc96a3fab6039d583dab"
)
OUR_HLS_ANSWER = (
    "000100010001002ccf2a30000000039d1918dd047246da418aa3099a2cb2b38e927f748a2cb0ed6013f8fe559b"
    "d1c4e65cec5132"
)


def show(name, frames):
    for frame in frames:
        print(f"{name}: {bytes(frame).hex()}")


def feed(client, hex_frame):
    reply = GXReplyData()
    client.getData(GXByteBuffer(bytes.fromhex(hex_frame)), reply)
    return reply.data


# The public client (wPort 16) to the management logical device (wPort 1), no security.
client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
show("aarq without security", client.aarqRequest())
show("get clock time", client.read(GXDLMSClock("0.0.1.0.0.255"), 2))
show("get energy register value", client.read(GXDLMSRegister("1.0.1.8.0.255"), 2))
show("remote_disconnect", client.method(GXDLMSDisconnectControl("0.0.96.3.10.255"), 1, 0, DataType.INT8))

# A password (lowest-level security), client wPort 17.
client = GXDLMSClient(True, 17, 1, Authentication.LOW, "12345678", InterfaceType.WRAPPER)
show("aarq with a password", client.aarqRequest())

# The public client through the gateway protocol: network 0, physical address AMR00001.
client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
client.gateway = GXDLMSGateway()
client.gateway.networkId = 0
client.gateway.physicalDeviceAddress = b"AMR00001"
show("aarq through the gateway", client.aarqRequest())

# HLS by GMAC with authenticated encryption, client wPort 1.
client = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
client.ciphering.systemTitle = bytes.fromhex("4D4D4D0000BC614E")
client.ciphering.blockCipherKey = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
client.ciphering.authenticationKey = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
client.ciphering.invocationCounter = 0x01234567
client.settings.useCustomChallenge = True
client.settings.ctoSChallenge = b"K56iVagY"
show("aarq hls-gmac", client.aarqRequest())
client.parseAareResponse(feed(client, OUR_AARE))
show("hls reply to our challenge", client.getApplicationAssociationRequest())
client.parseApplicationAssociationResponse(feed(client, OUR_HLS_ANSWER))
print("Gurux accepted amirange's AARE and its answer to the client's challenge")
