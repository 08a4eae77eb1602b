"""ansible-vault's AES256 format (1.1 and 1.2), read and written without ansible-core.

Same algorithm as ``ansible.parsing.vault.VaultAES256``: PBKDF2-SHA256 (10,000 rounds) derives
a cipher key, an HMAC key and a counter IV from a 32-byte salt; AES-256-CTR over PKCS#7-padded
text; HMAC-SHA256 over the ciphertext. A contract test checks it against the real ansible-vault.
"""

from __future__ import annotations

import binascii
import hmac
import os
from hashlib import sha256

from govops.i18n import Msg, Text

HEADER = b"$ANSIBLE_VAULT"


class VaultError(Exception):
    def __init__(self, message: Text) -> None:
        super().__init__(str(message))
        self.msg = message


def _keys(password: str, salt: bytes) -> tuple[bytes, bytes, bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(
        password.encode("utf-8")
    )
    return derived[:32], derived[32:64], derived[64:80]


def _ctr(key: bytes, iv: bytes) -> object:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CTR(iv))


def decrypt(blob: bytes, password: str) -> str:
    lines = blob.strip().splitlines()
    if not lines or not lines[0].startswith(HEADER):
        raise VaultError(Msg("err.vault.not_vault"))
    header = lines[0].split(b";")
    if len(header) < 3 or header[2].strip() != b"AES256":
        raise VaultError(Msg("err.vault.cipher"))
    try:
        inner = binascii.unhexlify(b"".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, data_hex = inner.split(b"\n", 2)
        salt, mac, data = (binascii.unhexlify(x) for x in (salt_hex, mac_hex, data_hex.strip()))
    except (ValueError, binascii.Error):
        raise VaultError(Msg("err.vault.damaged")) from None
    key1, key2, iv = _keys(password, salt)
    if not hmac.compare_digest(hmac.new(key2, data, sha256).digest(), mac):
        raise VaultError(Msg("err.vault.password"))
    from cryptography.hazmat.primitives import padding

    dec = _ctr(key1, iv).decryptor()  # type: ignore[attr-defined]
    padded = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError(Msg("err.vault.damaged")) from None
    return plain.decode("utf-8")


def encrypt(text: str, password: str, salt: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import padding

    salt = salt if salt is not None else os.urandom(32)
    key1, key2, iv = _keys(password, salt)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(text.encode("utf-8")) + padder.finalize()
    enc = _ctr(key1, iv).encryptor()  # type: ignore[attr-defined]
    data = enc.update(padded) + enc.finalize()
    mac = hmac.new(key2, data, sha256).digest()
    inner = b"\n".join(binascii.hexlify(x) for x in (salt, mac, data))
    body = binascii.hexlify(inner)
    wrapped = b"\n".join(body[i : i + 80] for i in range(0, len(body), 80))
    return HEADER + b";1.1;AES256\n" + wrapped + b"\n"
