"""Ed25519 (RFC 8032 §7.1 test vectors), signed notes and verifier keys (vectors of Go's
sumdb/note and the C2SP signed-note spec), checkpoints, and the entry's deterministic
CBOR (the byte-exact example of spec/entry.md §6)."""

import base64
import hashlib
import struct

import pytest

from llm_audit_trail import cbor, ed25519, entry, note
from llm_audit_trail.merkle import leaf_hash

# RFC 8032 §7.1: (public key, message, signature).
RFC8032 = [
    (  # TEST 1
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (  # TEST 2
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (  # TEST 3
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]
L = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize("pub,msg,sig", RFC8032)
def test_rfc8032_vectors(pub, msg, sig):
    pub, msg, sig = bytes.fromhex(pub), bytes.fromhex(msg), bytes.fromhex(sig)
    assert ed25519.verify(pub, msg, sig)
    assert not ed25519.verify(pub, msg + b"x", sig)
    for i in (0, 31, 32, 63):  # a bit flipped in R or S
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not ed25519.verify(pub, msg, bytes(bad))
    bad_pub = bytearray(pub)
    bad_pub[0] ^= 0x01
    assert not ed25519.verify(bytes(bad_pub), msg, sig)


def test_ed25519_rejects_malleable_and_malformed_input():
    pub, msg, sig = (bytes.fromhex(x) for x in RFC8032[0])
    s = int.from_bytes(sig[32:], "little")
    # S + L verifies the same equation but is not canonical: RFC 8032 §5.1.7 rejects it.
    assert not ed25519.verify(pub, msg, sig[:32] + (s + L).to_bytes(32, "little"))
    assert not ed25519.verify(pub, msg, sig[:63])
    assert not ed25519.verify(pub[:31], msg, sig)
    # y = p (non-canonical encoding) is not a valid public key.
    p = 2**255 - 19
    assert not ed25519.verify(p.to_bytes(32, "little"), msg, sig)


def _vkey_with_plus():
    # A key whose base64 contains "+": only the first two "+" separate the fields.
    for i in range(256):
        vk = note.VerifierKey("log.example", bytes([i]) * 32)
        if "+" in vk.to_vkey().split("+", 2)[2]:
            return vk.to_vkey()
    raise AssertionError("no such key")


PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"


def test_verifier_keys_round_trip():
    for vkey in (PETER_VKEY, ENOCH_VKEY, SPEC_VKEY, _vkey_with_plus()):
        vk = note.parse_verifier_key(vkey)
        assert vk.to_vkey() == vkey
    assert note.parse_verifier_key(PETER_VKEY).key_id.hex() == "c74f20a3"


@pytest.mark.parametrize("bad", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
    "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   # bad base64
    "PeterNeumann+c74f20a3+AhpcdQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x02
    "PeterNeumann+c74f20a3",                                                 # two parts
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
    "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
])
def test_bad_verifier_keys(bad):
    with pytest.raises(note.NoteError):
        note.parse_verifier_key(bad)


def test_signed_notes_open_with_the_right_key_only():
    both = PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert note.open_note(PETER_TEXT + "\n" + PETER_SIG, PETER_VKEY) == PETER_TEXT
    assert note.open_note(both, PETER_VKEY) == PETER_TEXT
    assert note.open_note(both, ENOCH_VKEY) == PETER_TEXT
    assert note.open_note(SPEC_NOTE, SPEC_VKEY) == "This is an example message.\n"
    with pytest.raises(note.NoteError):
        note.open_note(PETER_TEXT + "\n" + PETER_SIG, ENOCH_VKEY)  # no signature by Enoch
    with pytest.raises(note.NoteError):
        note.open_note(PETER_TEXT.replace("answer", "Answer") + "\n" + PETER_SIG, PETER_VKEY)
    with pytest.raises(note.NoteError):  # Enoch's signature under Peter's name and key id
        note.open_note(PETER_TEXT + "\n" + ENOCH_SIG.replace("EnochRoot", "PeterNeumann"), PETER_VKEY)


@pytest.mark.parametrize("bad", [
    PETER_TEXT + PETER_SIG,                       # no blank line
    PETER_TEXT + "\n" + PETER_SIG[:-1],           # no final newline
    PETER_TEXT + "\n" + PETER_SIG.replace("\u2014 ", "- "),  # not an em dash
    PETER_TEXT + "\n",                            # no signatures
    PETER_TEXT.replace("\n", "\x01", 1) + "\n" + PETER_SIG,  # control character
])
def test_malformed_notes(bad):
    with pytest.raises(note.NoteError):
        note.open_note(bad, PETER_VKEY)


def test_checkpoint_text():
    root = hashlib.sha256(b"root").digest()
    text = "example.com/log\n42\n" + base64.b64encode(root).decode() + "\n"
    cp = note.parse_checkpoint(text)
    assert (cp.origin, cp.tree_size, cp.root_hash, cp.extensions) == ("example.com/log", 42, root, ())
    assert note.parse_checkpoint(text + "ext line\n").extensions == ("ext line",)
    for bad in (
        text[:-1],                                   # no final newline
        "example.com/log\n042\n" + text.split("\n", 2)[2],  # leading zero
        "example.com/log\n-1\n" + text.split("\n", 2)[2],
        "example.com/log\n42\nAAAA\n",              # root not 32 bytes
        "example.com/log\n42\n",                     # no root
        "\n42\n" + text.split("\n", 2)[2],           # empty origin
    ):
        with pytest.raises(note.NoteError):
            note.parse_checkpoint(bad)


# ---- deterministic CBOR and the entry (spec/entry.md) ----

SALT = bytes(range(32))
DETAILS = {"accuracy": 0.88, "epochs": 3, "lr": 1e-05, "warmup": 1.5}
BODY_HEX = ("a2656163746f7265616c6963656764657461696c73a4626c72fb3ee4f8b588e368f16665706f6368"
            "7303667761726d7570f93e00686163637572616379fb3fec28f5c28f5c29")
ENTRY_HEX = (
    "a86673797374656d6464656d6f6776657273696f6e01686576656e745f6964782430303030303030302d3030"
    "30302d343030302d383030302d303030303030303030303030686d6f64656c5f69646c64656d6f2d696d6462"
    "2d7631697375626d69747465726263696974696d657374616d70781b323032362d30312d30325430393a3135"
    "3a30342e3132333435365a6a6576656e745f747970656a4576616c756174696f6e6b626f64795f6469676573"
    "7458207aaa23e772bc18a838c9b7e389d274505346fad73e4fa1fed0371060c1b28e08"
)
HEADER = {
    "event_id": "00000000-0000-4000-8000-000000000000",
    "timestamp": "2026-01-02T09:15:04.123456Z",
    "event_type": "Evaluation",
    "system": "demo",
    "model_id": "demo-imdb-v1",
    "submitter": "ci",
}


def test_entry_example_byte_for_byte():
    body = entry.encode_body("alice", DETAILS)
    assert body.hex() == BODY_HEX
    digest = entry.body_digest(SALT, body)
    assert digest.hex() == "7aaa23e772bc18a838c9b7e389d274505346fad73e4fa1fed0371060c1b28e08"
    e = entry.encode_entry(dict(HEADER, body_digest=digest))
    assert e.hex() == ENTRY_HEX
    assert leaf_hash(e).hex() == "270191e7af1878320d107ff1515a72d3af8605ee10b3fd3f20245d3780b2107b"
    decoded = entry.decode_entry(e)
    assert decoded["submitter"] == "ci" and decoded["dataset_id"] is None
    assert entry.decode_body(body) == {"actor": "alice", "details": DETAILS}
    # A mirror record carrying salt and leaf_hash rebuilds the same leaf.
    record = dict(HEADER, actor="alice", details=DETAILS, salt=SALT.hex(), dataset_id=None,
                  deployment_id=None, leaf_hash=leaf_hash(e).hex())
    assert entry.record_leaf_hash(record) == leaf_hash(e)
    with pytest.raises(entry.EntryError):
        entry.record_leaf_hash(dict(record, actor="mallory"))


@pytest.mark.parametrize("value,hexed", [
    (0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"), (2**32, "1b0000000100000000"),
    (-1, "20"), (-(2**64), "3bffffffffffffffff"), (2**64 - 1, "1bffffffffffffffff"),
    (1.5, "f93e00"), (1.0, "f93c00"), (-0.0, "f98000"), (0.1, "fb3fb999999999999a"),
    (65504.0, "f97bff"), (100000.0, "fa47c35000"), (1e-05, "fb3ee4f8b588e368f1"),
    ("a", "6161"), ("\u00fc", "62c3bc"), ([], "80"), ({}, "a0"), (None, "f6"), (True, "f5"),
    ({"b": 1, "aa": 2, "a": 3}, "a3616103616201626161" + "02"),
])
def test_cbor_canonical_encoding(value, hexed):
    assert cbor.encode(value).hex() == hexed
    back = cbor.decode(bytes.fromhex(hexed))
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize("hexed,why", [
    ("1817", "23 with a 1-byte argument"),
    ("1900ff", "255 with a 2-byte argument"),
    ("fa3fc00000", "1.5 as a single"),
    ("fb3ff8000000000000", "1.5 as a double"),
    ("f97e00", "NaN"),
    ("f97c00", "Infinity"),
    ("a2616201616102", "keys out of order"),
    ("a2616101616102", "repeated key"),
    ("a10101", "integer key"),
    ("9f01ff", "indefinite-length array"),
    ("c11a514b67b0", "tag"),
    ("f7", "undefined"),
    ("0000", "trailing bytes"),
    ("62c3", "truncated"),
    ("62c328", "invalid UTF-8"),
    ("9b00000000ffffffff", "count beyond the input"),
])
def test_cbor_rejects_non_canonical(hexed, why):
    with pytest.raises(cbor.CborError):
        cbor.decode(bytes.fromhex(hexed))


def test_cbor_refuses_what_has_no_encoding():
    for bad in (float("nan"), float("inf"), 2**64, -(2**64) - 1, {1: 2}, object()):
        with pytest.raises(cbor.CborError):
            cbor.encode(bad)


def test_entry_decoder_checks_version_and_keys():
    digest = bytes(32)
    good = dict(HEADER, body_digest=digest)
    e = cbor.decode(entry.encode_entry(good))
    for mutate in (
        lambda m: m.update(version=2),
        lambda m: m.update(extra="x"),
        lambda m: m.pop("event_id"),
        lambda m: m.update(body_digest=b"short"),
        lambda m: m.update(system=5),
    ):
        m = dict(e)
        mutate(m)
        with pytest.raises(entry.EntryError):
            entry.decode_entry(cbor.encode(m))
    assert struct.pack(">e", 1.5) == bytes.fromhex("3e00")
