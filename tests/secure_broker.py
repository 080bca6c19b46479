"""A secured local broker (SASL/SCRAM, optionally TLS) for the tests of Kafka security, with a
throwaway certificate authority minted by `openssl`. Test-only, so it lives under `tests/`, built on
the dev broker in `pipeline.dev.kafka_local`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.dev.kafka_local import BrokerError, free_port, start


@dataclass(frozen=True)
class SecureBroker:
    """A broker with PLAINTEXT (inter-broker, admin), SASL_PLAINTEXT and, with TLS, SASL_SSL
    listeners. `ca_file` is the PEM CA that signed the broker certificate (None without TLS)."""

    plaintext: str
    sasl_plaintext: str
    sasl_ssl: str | None
    ca_file: Path | None
    data_dir: Path
    pid: int


def make_tls_files(out_dir: Path, hostname: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway CA and a broker certificate for `hostname` (IP or DNS SAN), with `openssl`.

    Returns (ca.crt, server.pem); server.pem holds the PKCS#8 key and the chain, the layout Kafka's
    `ssl.keystore.type=PEM` reads (KIP-651), so no JKS/keytool step is needed.
    """
    if shutil.which("openssl") is None:
        raise BrokerError("openssl is needed to make test TLS certificates")
    out_dir.mkdir(parents=True, exist_ok=True)
    san = f"IP:{hostname}" if hostname.replace(".", "").isdigit() else f"DNS:{hostname}"
    (out_dir / "server.ext").write_text(
        f"subjectAltName={san},DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )

    def ssl_cmd(*args: str) -> None:
        res = subprocess.run(["openssl", *args], cwd=out_dir, capture_output=True, text=True)
        if res.returncode != 0:
            raise BrokerError(f"openssl {args[0]} failed: {res.stderr}")

    ssl_cmd(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=finsent-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=keyCertSign,cRLSign",
    )
    ssl_cmd(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=finsent-test-broker",
    )
    ssl_cmd(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    )
    pem = out_dir / "server.pem"
    parts = ("server.key", "server.crt", "ca.crt")
    pem.write_text("".join((out_dir / n).read_text() for n in parts))
    return out_dir / "ca.crt", pem


def start_secure(
    data_dir: Path,
    users: dict[str, str],
    *,
    tls: bool = True,
    mechanism: str = "SCRAM-SHA-512",
    timeout_s: float = 90.0,
) -> SecureBroker:
    """Start a broker whose client listeners require SASL/SCRAM for `users` (name -> password).

    KRaft has no ZooKeeper to hold SCRAM credentials before the broker runs, so they are written
    into the metadata log at format time (`StorageTool format --add-scram`, KIP-900). The
    controller and inter-broker listeners stay PLAINTEXT on their own ports: the test is about
    client authentication, and `start()` can then probe readiness with a plain admin client.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    plain, ctrl, sasl, sasl_ssl = free_port(), free_port(), free_port(), free_port()
    listeners = [f"PLAINTEXT://127.0.0.1:{plain}", f"SASL_PLAINTEXT://127.0.0.1:{sasl}"]
    protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT", "SASL_PLAINTEXT:SASL_PLAINTEXT"]
    jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    mech = mechanism.lower()
    extra = {
        "sasl.enabled.mechanisms": mechanism,
        f"listener.name.sasl_plaintext.{mech}.sasl.jaas.config": jaas,
    }
    ca_file: Path | None = None
    if tls:
        ca_file, pem = make_tls_files(data_dir / "tls")
        listeners.append(f"SASL_SSL://127.0.0.1:{sasl_ssl}")
        protocols.append("SASL_SSL:SASL_SSL")
        extra.update(
            {
                f"listener.name.sasl_ssl.{mech}.sasl.jaas.config": jaas,
                "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
                "listener.name.sasl_ssl.ssl.keystore.location": str(pem),
            }
        )
    extra.update(
        {
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{ctrl}"]),
            "advertised.listeners": ",".join(listeners),
            "listener.security.protocol.map": ",".join(protocols),
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{ctrl}",
        }
    )
    scram = tuple(
        arg
        for name, password in users.items()
        for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
    )
    broker = start(
        data_dir, plain, extra_config=extra, format_args=scram, timeout_s=timeout_s, quiet=True
    )
    return SecureBroker(
        plaintext=broker.bootstrap,
        sasl_plaintext=f"127.0.0.1:{sasl}",
        sasl_ssl=f"127.0.0.1:{sasl_ssl}" if tls else None,
        ca_file=ca_file,
        data_dir=data_dir,
        pid=broker.pid,
    )
