"""uniqueString() and guid(), bit-for-bit as Azure Resource Manager computes them.

uniqueString: Microsoft's 64-bit MurmurHash variant (two 32-bit lanes, seed 0, 8-byte blocks)
of the UTF-8 bytes of the arguments joined with "-", written as 13 base-32 characters
(alphabet a-z2-7) five bits at a time from the most significant end. Checked against outputs
of real deployments (tests/arm/test_hashing.py).

guid: a name-based (SHA-1, version 5) UUID of the same dash-joined text in the namespace ARM
uses, 11fb06fb-712d-4ddd-98c7-e71bbd588830 (as several public re-implementations that match
real role-assignment names do).
"""

from __future__ import annotations

import uuid

_MASK = 0xFFFFFFFF
_C1 = 0x239B961B
_C2 = 0xAB0E9789
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def _lane1(k: int) -> int:
    return (_rotl((k * _C1) & _MASK, 15) * _C2) & _MASK


def _lane2(k: int) -> int:
    return (_rotl((k * _C2) & _MASK, 17) * _C1) & _MASK


def murmur64(data: bytes) -> int:
    """Microsoft's MurmurHash64 (seed 0) as used by ARM's uniqueString."""
    h1 = h2 = 0
    length = len(data)
    end = length - length % 8
    for i in range(0, end, 8):
        h1 ^= _lane1(int.from_bytes(data[i : i + 4], "little"))
        h1 = (_rotl(h1, 19) + h2) & _MASK
        h1 = (h1 * 5 + 0x561CCD1B) & _MASK
        h2 ^= _lane2(int.from_bytes(data[i + 4 : i + 8], "little"))
        h2 = (_rotl(h2, 13) + h1) & _MASK
        h2 = (h2 * 5 + 0x0BCAA747) & _MASK
    tail = data[end:]
    if tail:
        h1 ^= _lane1(int.from_bytes(tail[:4], "little"))
        if len(tail) > 4:
            h2 ^= _lane2(int.from_bytes(tail[4:], "little"))
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    return (h2 << 32) | h1


def unique_string(*parts: str) -> str:
    value = murmur64("-".join(parts).encode("utf-8"))
    # 13 characters x 5 bits = 65 bits: the last character uses the final 4 bits shifted up.
    chars = []
    for i in range(13):
        shift = 59 - 5 * i
        chars.append(_ALPHABET[(value >> shift if shift >= 0 else value << -shift) & 31])
    return "".join(chars)


def arm_guid(*parts: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "-".join(parts)))
