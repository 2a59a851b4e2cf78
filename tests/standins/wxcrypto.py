"""WeChat's and WeChat Work's callback cryptography, written from the platforms' documentation
(公众号 "消息加解密说明", 企业微信 "加解密方案说明") with ``cryptography`` and ``hashlib`` only.

The stand-ins must not share code with the product: Linli's channels use wechatpy, and a stand-in
that encrypted with wechatpy too would only ever prove that wechatpy agrees with itself. What the
documents specify, and what this module does:

- ``AESKey = Base64_Decode(EncodingAESKey + "=")``: 32 bytes, so AES-256; CBC mode with the first
  16 bytes of the key as IV.
- plaintext = 16 random bytes + the message's length in bytes (4 bytes, network order) + the
  message (UTF-8) + the receiver id (the Official Account's AppID, or the CorpID for WeChat Work).
- PKCS#7 padding to a multiple of **32** bytes (not AES's 16): 1 to 32 bytes, each the pad length.
- The ciphertext travels base64-encoded.
- ``msg_signature = sha1(sort(token, timestamp, nonce, encrypt))`` (safe mode, and every WeChat
  Work callback); the Official Account's plain-mode ``signature = sha1(sort(token, timestamp, nonce))``.
  The strings are sorted as byte strings and concatenated before hashing.
"""
from __future__ import annotations

import base64
import hashlib
import os
import struct
from typing import Optional

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # the padding block the documents specify


class DecryptError(ValueError):
    """The ciphertext is not a message for this receiver (wrong key, bad padding, other receiver)."""


def signature(*parts: str) -> str:
    """sha1 over the sorted, concatenated parts: (token, timestamp, nonce[, encrypt])."""
    return hashlib.sha1(b"".join(sorted(str(p).encode("utf-8") for p in parts))).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise ValueError("an EncodingAESKey has 43 characters")
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    return key


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def pad(data: bytes) -> bytes:
    amount = BLOCK - len(data) % BLOCK  # 1..32: a full block of padding when already aligned
    return data + bytes([amount]) * amount


def unpad(data: bytes) -> bytes:
    amount = data[-1] if data else 0
    if not 1 <= amount <= BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad PKCS#7 padding")
    return data[:-amount]


def encrypt(key: bytes, message: str, receive_id: str, random: Optional[bytes] = None) -> str:
    """The base64 ``Encrypt`` field for ``message`` addressed from/to ``receive_id``."""
    random = os.urandom(16) if random is None else random
    assert len(random) == 16, "the documents prefix exactly 16 random bytes"
    body = message.encode("utf-8")
    plain = random + struct.pack(">I", len(body)) + body + receive_id.encode("utf-8")
    encryptor = _cipher(key).encryptor()
    return base64.b64encode(encryptor.update(pad(plain)) + encryptor.finalize()).decode("ascii")


def decrypt(key: bytes, encrypted: str, receive_id: str) -> str:
    """The message inside an ``Encrypt`` field; ``DecryptError`` unless it is for ``receive_id``."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except ValueError as error:
        raise DecryptError(f"not base64: {error}") from None
    if not raw or len(raw) % 16:
        raise DecryptError("not a whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = unpad(decryptor.update(raw) + decryptor.finalize())
    if len(plain) < 20:
        raise DecryptError("too short for random bytes and a length")
    (length,) = struct.unpack(">I", plain[16:20])
    body, receiver = plain[20:20 + length], plain[20 + length:]
    if len(body) != length:
        raise DecryptError("the length field runs past the message")
    if receiver.decode("utf-8", "replace") != receive_id:
        raise DecryptError(f"addressed to {receiver!r}, not {receive_id!r}")
    return body.decode("utf-8")
