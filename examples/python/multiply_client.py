#!/usr/bin/env python3
"""Call Multiply(l, r) on a minirpc server, with nothing but Python's standard library.

This file was written from docs/protocol.md alone. It shows that the page is
enough to talk to minirpc from another language (the 跨编程语言 row of the
article's RPC-versus-HTTP table). The comments name the section of
docs/protocol.md that each step follows ("§3" is section 3 of that page).

Usage:
    python3 examples/python/multiply_client.py HOST:PORT [L R] [--json] [--checksum] [--sign KEYID:SECRET]

L and R default to 10 and 20, so by default it prints 200. If the server
answers with an error, it prints the status and message to stderr and exits
with status 1. Network and protocol problems exit with status 3; bad usage
exits with status 2.

By default the arguments and the result use the binary codec (codec byte 0,
§10): two big-endian i32s in, one out. With --json they use the JSON codec
(codec byte 1, §13): the arguments are the UTF-8 text [L,R], and the result
is JSON text too (200), read with Python's json module. The envelope around
them is binary either way, and the output is the same.

With --checksum the request is sealed (§14): flag bit 0 set, the body length
4 larger, and a CRC-32C of header and body after the body. The server then
answers sealed, and this client refuses an answer that is not sealed or
whose CRC does not match (exit status 3). The CRC-32C is computed here, in
pure Python, from the parameters on the page: Python's zlib.crc32 is a
different CRC.

With --sign KEYID:SECRET the request is signed (§15), for a server that
authenticates: four auth-* metadata pairs, the last an HMAC-SHA256 (Python's
hmac and hashlib) over the key id, the current time, a fresh random nonce,
the call id and the SHA-256 of the argument bytes. The secret is the UTF-8
bytes of SECRET; it is never sent.

tests/interop_python.rs runs this script against a real minirpc server.
"""

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

# §3: the fixed 18-byte header.
#   magic "MR" | version u8 | kind u8 | codec u8 | flags u8 | request id u64 | body length u32
# ">" means big-endian with no padding (§1), so the struct is exactly 18 bytes.
HEADER = struct.Struct(">2sBBBBQI")
assert HEADER.size == 18

MAGIC = b"MR"
VERSION = 1
KIND_REQUEST, KIND_RESPONSE, KIND_ONEWAY, KIND_PING, KIND_PONG, KIND_CANCEL = 1, 2, 3, 4, 5, 6
STATUS_RESOURCE_EXHAUSTED = 8  # §6
CODEC_BINARY = 0  # §10
CODEC_JSON = 1  # §13
MAX_BODY = 4 * 1024 * 1024  # §3: the default limit, 4 MiB
FLAG_CHECKSUM = 0x01  # §3, §14: flags bit 0, the frame ends with a CRC-32C

# §6: the status byte uses gRPC's numbering.
STATUS_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

TIMEOUT_S = 10.0  # how long we wait for the whole call
REQUEST_ID = 1  # §2: any id but 0 (§8); this connection carries only one call


class ProtocolError(Exception):
    """The server sent something that is not what docs/protocol.md describes."""


class RpcError(Exception):
    """The server answered with a non-zero status (§5, §6)."""

    def __init__(self, status, message):
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self):
        name = STATUS_NAMES.get(self.status, "UNKNOWN")  # §6: unknown codes are UNKNOWN
        return "%s (status %d): %s" % (name, self.status, self.message)


# ---- the checksum (§14) ------------------------------------------------------


def _crc32c_table():
    """§14: CRC-32C, polynomial 0x1EDC6F41, least significant bit first
    (bit-reversed: 0x82F63B78). Entry b is the CRC step for the byte b."""
    table = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """§14: start from 0xFFFFFFFF, one table step per byte, XOR 0xFFFFFFFF at the end."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ CRC32C_TABLE[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


# §14: the standard check value, so a mistake above is caught before any call.
assert crc32c(b"123456789") == 0xE3069283


def seal(frame):
    """§14: set flag bit 0, count 4 more body bytes, append the CRC-32C
    (big-endian) of the header as changed and the body."""
    magic, version, kind, codec, flags, request_id, body_len = HEADER.unpack_from(frame)
    header = HEADER.pack(magic, version, kind, codec, flags | FLAG_CHECKSUM, request_id, body_len + 4)
    sealed = header + frame[HEADER.size :]
    return sealed + struct.pack(">I", crc32c(sealed))


# ---- encoding ------------------------------------------------------------------


def encode_string(s):
    """§1: a string is a u32 byte length, then UTF-8."""
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def request_frame(request_id, call_id, timeout_ms, metadata, args, codec=CODEC_BINARY):
    """§4: the request body, then §3: the header in front of it.

    `args` are already encoded in `codec`; the header's codec byte says which.
    """
    body = encode_string(call_id)  # call id
    body += struct.pack(">I", timeout_ms)  # timeout in ms, 0 = no deadline
    body += struct.pack(">I", len(metadata))  # metadata count
    for key, value in metadata:  # key, value, key, value ...
        body += encode_string(key) + encode_string(value)
    body += args  # the arguments run to the end of the body
    header = HEADER.pack(MAGIC, VERSION, KIND_REQUEST, codec, 0, request_id, len(body))
    return header + body


# ---- signing (§15) -------------------------------------------------------------

SCHEME = "minirpc-hmac-sha256-v1"  # §15: the first string of the bytes signed


def signed_metadata(key_id, secret, call_id, args, timestamp=None, nonce=None):
    """§15: the four auth-* metadata pairs for one request.

    The bytes signed are five strings (u32 length + UTF-8, §1): the scheme,
    the key id, the timestamp and the nonce exactly as sent, the call id;
    then the 32-byte SHA-256 of the argument bytes.
    """
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    nonce = os.urandom(16).hex() if nonce is None else nonce  # 32 hex digits, never reused
    message = b"".join(encode_string(s) for s in (SCHEME, key_id, timestamp, nonce, call_id))
    message += hashlib.sha256(args).digest()
    signature = hmac.new(secret, message, hashlib.sha256).hexdigest()  # lowercase hex
    return [("auth-key", key_id), ("auth-ts", timestamp), ("auth-nonce", nonce), ("auth-sig", signature)]


# §15: the page's worked example, so a mistake above is caught before any call.
assert signed_metadata(
    "billing-1", b"correct horse battery staple", "Multiply", struct.pack(">ii", 10, 20),
    "1700000000", "00112233445566778899aabbccddeeff",
)[3][1] == "fd4ce05e6e861540b3da4bb27cee2e98a2b6bb541a1e3c4afe5a7b79ffc5a271"


# ---- reading -----------------------------------------------------------------


def recv_exact(sock, n, deadline):
    """Read exactly n bytes. recv may return fewer than asked (§3, "Reading a frame")."""
    chunks = []
    left = n
    while left > 0:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no complete frame from the server in time")
        sock.settimeout(remaining)
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise ProtocolError("the server closed the connection after %d of %d bytes" % (n - left, n))
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def skip_exact(sock, n, deadline):
    """Read n bytes and throw them away, a buffer at a time, never holding them all."""
    while n > 0:
        n -= len(recv_exact(sock, min(n, 65536), deadline))


def read_frame(sock, deadline):
    """§3: read 18 header bytes, check them, then read exactly body-length bytes.

    Returns (kind, codec, flags, request_id, body, body_len); body is None
    when the body was over the limit and has been skipped instead of stored.
    In a sealed frame (flag bit 0) the CRC has been checked and taken off the
    body (§14).
    """
    header = recv_exact(sock, HEADER.size, deadline)
    magic, version, kind, codec, flags, request_id, body_len = HEADER.unpack(header)
    if magic != MAGIC:
        raise ProtocolError("bad magic %r; a minirpc frame starts with 4d 52 (\"MR\")" % magic)
    if version != VERSION:
        raise ProtocolError("protocol version %d; this client speaks version %d" % (version, VERSION))
    # The limit is checked on the header alone, before reading the body (§3).
    # The length is still true, so the body is skipped and the next frame read.
    if body_len > MAX_BODY:
        skip_exact(sock, body_len, deadline)
        return kind, codec, flags, request_id, None, body_len
    body = recv_exact(sock, body_len, deadline)
    if flags & FLAG_CHECKSUM:
        # §14: the last 4 bytes are the CRC-32C of the header as received
        # and the body before them. A mismatch means nothing in the frame
        # can be believed, its length included: give up on the connection.
        if body_len < 4:
            raise ProtocolError("a sealed frame of %d body bytes has no room for its CRC-32C" % body_len)
        body, sent = body[:-4], struct.unpack(">I", body[-4:])[0]
        got = crc32c(header + body)
        if got != sent:
            raise ProtocolError("frame checksum mismatch (CRC-32C %08x, the frame says %08x)" % (got, sent))
    return kind, codec, flags, request_id, body, body_len


def parse_response(body):
    """§5: status u8, message (u32 length + UTF-8), then the result to the end."""
    if len(body) < 5:
        raise ProtocolError("response body of %d bytes is too short for status and message length" % len(body))
    status = body[0]
    (msg_len,) = struct.unpack_from(">I", body, 1)
    if 5 + msg_len > len(body):
        raise ProtocolError("response message length %d runs past the end of the body" % msg_len)
    message = body[5 : 5 + msg_len].decode("utf-8", errors="replace")
    result = body[5 + msg_len :]
    return status, message, result


# ---- the call ------------------------------------------------------------------


def encode_args(codec, l, r):
    """The arguments (i32, i32), a tuple, in the chosen codec."""
    if codec == CODEC_JSON:
        # §13: a tuple is a JSON array, an integer a plain JSON number: [10,20].
        return json.dumps([l, r], separators=(",", ":")).encode("utf-8")
    # §10: a tuple is its fields one after another: two big-endian i32s.
    return struct.pack(">ii", l, r)


def decode_result(codec, result):
    """The result, an i32, from the chosen codec; ProtocolError if it is not one."""
    if codec == CODEC_JSON:
        # §13: the result is UTF-8 JSON text holding one number, e.g. 200.
        try:
            value = json.loads(result.decode("utf-8"))
        except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ProtocolError("the result is not UTF-8 JSON text: %s" % e)
        # bool is a subclass of int in Python; a JSON true is not an i32.
        if type(value) is not int or not -(2**31) <= value < 2**31:
            raise ProtocolError("the JSON result %r is not an i32" % (value,))
        return value
    # §10: the result is one i32, four big-endian bytes, nothing after.
    if len(result) != 4:
        raise ProtocolError("result of %d bytes; an i32 is 4" % len(result))
    (product,) = struct.unpack(">i", result)
    return product


def multiply(host, port, l, r, codec=CODEC_BINARY, checksum=False, sign=None):
    """Call Multiply(l, r) and return the product; raise RpcError if the server refuses.

    `sign` is None or (key id, secret bytes): then the request is signed (§15).
    """
    args = encode_args(codec, l, r)
    # §4: timeout 10000 ms, no metadata, as the default minirpc client sends
    # (or the four auth-* pairs of §15 when signing).
    metadata = signed_metadata(sign[0], sign[1], "Multiply", args) if sign else []
    frame = request_frame(REQUEST_ID, "Multiply", int(TIMEOUT_S * 1000), metadata, args, codec)
    if checksum:
        frame = seal(frame)  # §14

    deadline = time.monotonic() + TIMEOUT_S
    # §12 step 1: a socket with a timeout, so that no read waits forever.
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(frame)
        # §12 step 6: read frames until our answer arrives. Every read is
        # bounded by the deadline, so this loop is too.
        while True:
            kind, resp_codec, flags, request_id, body, body_len = read_frame(sock, deadline)
            if not KIND_REQUEST <= kind <= KIND_CANCEL:
                continue  # §3: a kind we do not know is skipped (read_frame read its body)
            if checksum and not flags & FLAG_CHECKSUM:
                # §14: the server answers a sealed request sealed; a frame we
                # cannot check is a frame we cannot believe.
                raise ProtocolError("the server sent a frame of kind %d without a checksum" % kind)
            if body is None:
                # §3: too large to keep. It fails only the call it answers.
                if kind == KIND_RESPONSE and request_id == REQUEST_ID:
                    raise RpcError(
                        STATUS_RESOURCE_EXHAUSTED,
                        "the response is %d bytes, over this client's limit of %d" % (body_len, MAX_BODY),
                    )
                continue
            if kind == KIND_PING:
                # §7: answer a ping with a pong carrying the same id and an empty body.
                pong = HEADER.pack(MAGIC, VERSION, KIND_PONG, CODEC_BINARY, 0, request_id, 0)
                sock.sendall(seal(pong) if checksum else pong)
                continue
            if kind == KIND_PONG:
                continue  # we sent no ping; ignore it
            if kind != KIND_RESPONSE:
                raise ProtocolError("the server sent a frame of kind %d; servers send responses (2)" % kind)
            status, message, result = parse_response(body)
            if request_id == 0:
                # §8: request id 0 is about the connection; the server closes it next.
                raise RpcError(status, "connection-level error: " + message)
            if request_id != REQUEST_ID:
                raise ProtocolError("response for request id %d; we sent only id %d" % (request_id, REQUEST_ID))
            if status != 0:
                raise RpcError(status, message)  # §5: no result unless status is 0
            # §3: the server answers in the codec of the request.
            if resp_codec != codec:
                raise ProtocolError("response in codec %d; we asked for %d" % (resp_codec, codec))
            return decode_result(codec, result)


def parse_address(text):
    """'HOST:PORT', or '[v6 address]:PORT'."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("expected HOST:PORT, got %r" % text)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def main(argv):
    usage = "usage: python3 %s HOST:PORT [L R] [--json] [--checksum] [--sign KEYID:SECRET]" % argv[0]
    # --sign takes the next argument; take both out first.
    sign = None
    if "--sign" in argv[1:]:
        at = argv.index("--sign")
        key_id, sep, secret = (argv[at + 1] if at + 1 < len(argv) else "").partition(":")
        if not sep or not key_id:
            print("--sign needs KEYID:SECRET\n%s" % usage, file=sys.stderr)
            return 2
        sign = (key_id, secret.encode("utf-8"))
        argv = argv[:at] + argv[at + 2 :]
    # The flags may stand anywhere after the script name; the rest are positional.
    flags = ("--json", "--checksum")
    codec = CODEC_JSON if "--json" in argv[1:] else CODEC_BINARY
    checksum = "--checksum" in argv[1:]
    argv = [argv[0]] + [a for a in argv[1:] if a not in flags]
    if len(argv) not in (2, 4):
        print(usage, file=sys.stderr)
        return 2
    try:
        host, port = parse_address(argv[1])
        l, r = (int(argv[2]), int(argv[3])) if len(argv) == 4 else (10, 20)
    except ValueError as e:
        print("%s\n%s" % (e, usage), file=sys.stderr)
        return 2
    for v in (l, r):
        if not -(2**31) <= v < 2**31:
            print("%d does not fit in an i32, the type Multiply takes" % v, file=sys.stderr)
            return 2
    try:
        print(multiply(host, port, l, r, codec, checksum, sign))
    except RpcError as e:
        print("server error: %s" % e, file=sys.stderr)
        return 1
    except (OSError, ProtocolError) as e:  # socket.timeout is an OSError
        print("cannot call %s: %s" % (argv[1], e), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
