"""Capture real KMIP TTLV messages from PyKMIP (client and server).

Starts PyKMIP's own `pykmip-server` on loopback with certificates made here,
drives it with `ProxyKmipClient` for KMIP 1.2, 1.4 and 2.0, and writes the
bytes of every request the client sends and every response it reads to
OUT_DIR as `<version>-<nn>-<operation>-request.ttlv` / `-response.ttlv`.

How the bytes are taken: TLS ends at the server, so a TCP-level recorder
would see ciphertext. The client writes and reads whole TTLV messages
through `kmip.services.kmip_protocol.KMIPProtocol.write` and `.read`; this
script wraps those two methods, so it records exactly the plaintext that
goes into and comes out of the TLS socket, and changes nothing else.

    python capture.py OUT_DIR      (interop/pykmip/capture.sh sets up the venv)
"""

import datetime
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kmip import enums
from kmip.pie import client as pie_client
from kmip.pie import objects
from kmip.services import kmip_protocol

VERSIONS = [
    ("1.2", enums.KMIPVersion.KMIP_1_2),
    ("1.4", enums.KMIPVersion.KMIP_1_4),
    ("2.0", enums.KMIPVersion.KMIP_2_0),
]


# --- recording ------------------------------------------------------------

class Recorder:
    """Names and keeps each message the client writes or reads."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.prefix = None
        self.count = 0
        self.written = []

    def start(self, version, operation):
        self.count += 1
        self.prefix = "{}-{:02d}-{}".format(version, self.count, operation)

    def save(self, kind, data):
        if self.prefix is None:
            return
        name = "{}-{}.ttlv".format(self.prefix, kind)
        with open(os.path.join(self.out_dir, name), "wb") as f:
            f.write(bytes(data))
        self.written.append(name)


RECORDER = None
_write = kmip_protocol.KMIPProtocol.write
_read = kmip_protocol.KMIPProtocol.read


def _recording_write(self, data):
    RECORDER.save("request", data)
    return _write(self, data)


def _recording_read(self):
    data = _read(self)
    RECORDER.save("response", data.buffer)
    return data


kmip_protocol.KMIPProtocol.write = _recording_write
kmip_protocol.KMIPProtocol.read = _recording_read


# --- certificates -----------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_pem(path, data):
    with open(path, "wb") as f:
        f.write(data)


def make_certificates(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate
    (extended key usage clientAuth, which pykmip-server requires)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("pykmip capture CA"))
        .issuer_name(_name("pykmip capture CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write_pem(os.path.join(d, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))
    for who, eku, san in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, True),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name("capture-" + who))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_pem(os.path.join(d, who + ".pem"), cert.public_bytes(serialization.Encoding.PEM))
        _write_pem(
            os.path.join(d, who + ".key"),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


# --- the server -------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(d, port):
    server = os.path.join(os.path.dirname(sys.executable), "pykmip-server")
    os.makedirs(os.path.join(d, "policies"), exist_ok=True)
    # pykmip-server insists on a configuration file; everything is in it.
    conf = os.path.join(d, "server.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "[server]",
            "hostname=127.0.0.1",
            "port={}".format(port),
            "certificate_path=" + os.path.join(d, "server.pem"),
            "key_path=" + os.path.join(d, "server.key"),
            "ca_path=" + os.path.join(d, "ca.pem"),
            "auth_suite=TLS1.2",
            "policy_path=" + os.path.join(d, "policies"),
            "enable_tls_client_auth=True",
            "logging_level=INFO",
            "database_path=" + os.path.join(d, "pykmip.db"),
            "",
        ]))
    args = [server, "-f", conf, "-l", os.path.join(d, "server.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "server.stderr"), "wb"))
    for _ in range(150):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.2)
    sys.stderr.write(open(os.path.join(d, "server.stderr")).read())
    raise SystemExit("capture.py: pykmip-server did not start")


# --- the session ------------------------------------------------------------

def session(c, rec, version):
    """The operations the issue lists, in the order a client would use them.
    A refusal by the server is kept too: it is a real response message."""
    alg = enums.CryptographicAlgorithm

    def op(name, call):
        rec.start(version, name)
        try:
            return call()
        except Exception as e:  # the server's refusal is part of the corpus
            print("  {} {}: {}".format(version, name, e))
            return None

    proxy = c.proxy
    op("discover_versions", lambda: proxy.discover_versions(protocol_versions=None))
    op("query", lambda: proxy.query(query_functions=[
        enums.QueryFunction.QUERY_OPERATIONS, enums.QueryFunction.QUERY_OBJECTS,
        enums.QueryFunction.QUERY_SERVER_INFORMATION]))
    aes = op("create", lambda: c.create(alg.AES, 256, name="capture-aes-" + version))
    op("activate", lambda: c.activate(aes))
    op("get", lambda: c.get(aes))
    op("get_attributes", lambda: c.get_attributes(aes, ["Name", "State", "Cryptographic Algorithm"]))
    op("locate", lambda: c.locate(attributes=[
        c.attribute_factory.create_attribute(enums.AttributeType.NAME, "capture-aes-" + version)]))
    params = {
        "cryptographic_algorithm": alg.AES,
        "block_cipher_mode": enums.BlockCipherMode.CBC,
        "padding_method": enums.PaddingMethod.PKCS5,
    }
    iv = bytes(range(16))
    enc = op("encrypt", lambda: c.encrypt(b"sixty-four bytes of plaintext for the capture of kmip messages!", aes,
                                         cryptographic_parameters=params, iv_counter_nonce=iv))
    if enc:
        op("decrypt", lambda: c.decrypt(enc[0], aes, cryptographic_parameters=params, iv_counter_nonce=iv))
    # pykmip-server does not create HMAC keys: register one.
    mac_key = objects.SymmetricKey(alg.HMAC_SHA256, 256, bytes(range(32)),
                                   masks=[enums.CryptographicUsageMask.MAC_GENERATE])
    hmac = op("register_hmac_key", lambda: c.register(mac_key))
    if hmac:
        op("activate_hmac_key", lambda: c.activate(hmac))
        op("mac", lambda: c.mac(b"a message to authenticate", hmac, algorithm=alg.HMAC_SHA256))
    pair = op("create_key_pair", lambda: c.create_key_pair(
        alg.RSA, 2048,
        public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
        private_usage_mask=[enums.CryptographicUsageMask.SIGN]))
    if pair:
        public, private = pair
        op("activate_public_key", lambda: c.activate(public))
        op("activate_private_key", lambda: c.activate(private))
        sign_params = {
            "cryptographic_algorithm": alg.RSA,
            "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
            "padding_method": enums.PaddingMethod.PSS,
        }
        sig = op("sign", lambda: c.sign(b"a message to sign", private, cryptographic_parameters=sign_params))
        if sig:
            op("signature_verify", lambda: c.signature_verify(b"a message to sign", sig, public,
                                                              cryptographic_parameters=sign_params))
    secret = objects.SymmetricKey(alg.AES, 128, bytes(range(16)), name="capture-registered-" + version)
    registered = op("register", lambda: c.register(secret))
    op("get_registered", lambda: c.get(registered))
    op("revoke", lambda: c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, aes,
                                 revocation_message="captured", compromise_occurrence_date=int(time.time())))
    op("destroy", lambda: c.destroy(aes))
    op("destroy_registered", lambda: c.destroy(registered))
    # A request the server refuses: the key is gone.
    op("get_destroyed", lambda: c.get(aes))


def main():
    global RECORDER
    if len(sys.argv) != 2:
        raise SystemExit("usage: capture.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    RECORDER = Recorder(out)
    with tempfile.TemporaryDirectory() as d:
        make_certificates(d)
        port = free_port()
        server = start_server(d, port)
        # The client, too, wants a file (its own section may stay empty).
        client_conf = os.path.join(d, "client.conf")
        with open(client_conf, "w") as f:
            f.write("[client]\n")
        try:
            for label, version in VERSIONS:
                RECORDER.count = 0
                with pie_client.ProxyKmipClient(
                    hostname="127.0.0.1", port=port,
                    cert=os.path.join(d, "client.pem"), key=os.path.join(d, "client.key"),
                    ca=os.path.join(d, "ca.pem"), config_file=client_conf,
                    kmip_version=version,
                ) as c:
                    session(c, RECORDER, label)
                RECORDER.prefix = None
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print("capture.py: {} messages in {}".format(len(RECORDER.written), out))


if __name__ == "__main__":
    main()
