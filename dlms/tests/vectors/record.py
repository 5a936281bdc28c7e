"""Records the request frames in dlms/tests/gurux_vectors.rs from the Gurux DLMS library.

The Gurux library (gurux-dlms on PyPI, GPLv2) is run here as an external program only; no
part of it is linked into or copied into amirange. Run once to (re)record:

    python3 -m venv /tmp/gx && /tmp/gx/bin/pip install gurux-dlms==1.0.203
    /tmp/gx/bin/python dlms/tests/vectors/record.py

and paste the printed hex into the tests.
"""

from gurux_dlms import GXDLMSClient
from gurux_dlms.enums import Authentication, DataType, InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSDisconnectControl, GXDLMSRegister


def show(name, frames):
    for frame in frames:
        print(f"{name}: {bytes(frame).hex()}")


# The public client (wPort 16) to the management logical device (wPort 1), no security.
client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
show("get clock time", client.read(GXDLMSClock("0.0.1.0.0.255"), 2))
show("get energy register value", client.read(GXDLMSRegister("1.0.1.8.0.255"), 2))
show("remote_disconnect", client.method(GXDLMSDisconnectControl("0.0.96.3.10.255"), 1, 0, DataType.INT8))
