"""TLS on the gRPC port: three PEM file paths, read and parsed at start-up.

Reading the files when the settings are read (the only I/O of the configuration) turns an unreadable file, a file
that is not PEM or a key that does not match its certificate into one start-up line naming the variable, instead
of a failure of every handshake later.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from dbd_playerstats.config import kinds
from dbd_playerstats.config.declare import Check, Var, invalid, var, var_of


class TlsFiles:
    """The `Check` of `TlsSettings`: the files that belong together are all there, and each is what it claims."""

    def __call__(self, group: Any) -> None:
        tls: TlsSettings = group
        cert_var, key_var, ca_var = (var_of(TlsSettings, name) for name in ("cert_file", "key_file", "client_ca_file"))
        if tls.cert_file is None and tls.key_file is None and tls.client_ca_file is None:
            return
        if tls.cert_file is None:
            needing = key_var.name if tls.key_file is not None else ca_var.name
            raise invalid(cert_var.name, "''", f"required when {needing} is set")
        if tls.key_file is None:
            raise invalid(key_var.name, "''", f"required when {cert_var.name} is set ({tls.cert_file})")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _pem_certificates(cert_var, tls.cert_file, context)
        _pem_key(key_var, tls.key_file, context, cert_var.name, tls.cert_file)
        if tls.client_ca_file is not None:
            _pem_certificates(ca_var, tls.client_ca_file, ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))

    def rule(self, group: type, name: str) -> str:
        cert, key = var_of(group, "cert_file").name, var_of(group, "key_file").name
        return {
            "cert_file": f"when set: a file of PEM certificates, and {key} is needed",
            "key_file": f"when set: the unencrypted PEM private key of {cert}, which is needed",
            "client_ca_file": f"when set: a file of PEM certificates, and {cert} is needed",
        }.get(name, "")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS on the gRPC port, as PEM file paths (validated when read from the environment).

    No `cert_file`: plaintext. `cert_file` + `key_file`: TLS. `client_ca_file` as well: mutual TLS, where a caller
    without a certificate signed by that CA is refused during the handshake, before any RPC exists.
    """

    CHECKS: ClassVar[tuple[Check, ...]] = (TlsFiles(),)

    cert_file: Path | None = var(
        "PLAYERSTATS_TLS_CERT", "", kinds.OPTIONAL_FILE, "PEM certificate chain: TLS on the gRPC port"
    )
    key_file: Path | None = var(
        "PLAYERSTATS_TLS_KEY", "", kinds.OPTIONAL_FILE, "the certificate's unencrypted private key (PEM)"
    )
    client_ca_file: Path | None = var(
        "PLAYERSTATS_TLS_CLIENT_CA",
        "",
        kinds.OPTIONAL_FILE,
        "PEM CA bundle: mutual TLS, callers need a certificate it signed",
    )

    @property
    def enabled(self) -> bool:
        """Whether the port speaks TLS."""
        return self.cert_file is not None

    @property
    def mutual(self) -> bool:
        """Whether callers must present a client certificate signed by `client_ca_file`."""
        return self.enabled and self.client_ca_file is not None

    @property
    def mode(self) -> str:
        """The transport for logs: `plaintext`, `tls` or `mtls`."""
        return "mtls" if self.mutual else "tls" if self.enabled else "plaintext"


def _readable(declared: Var[Any], path: Path) -> None:
    try:
        with path.open("rb") as file:
            file.read(1)
    except OSError as exc:
        raise declared.invalid(str(path), f"cannot read the file: {exc.strerror or exc}") from None


def _pem_certificates(declared: Var[Any], path: Path, context: ssl.SSLContext) -> None:
    """Check that the file holds at least one PEM certificate (a chain or a CA bundle)."""
    _readable(declared, path)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, UnicodeError):
        raise declared.invalid(str(path), "expected a file of PEM certificates (-----BEGIN CERTIFICATE-----)") from None


def _pem_key(declared: Var[Any], path: Path, context: ssl.SSLContext, cert_name: str, cert: Path) -> None:
    """Check that the file holds an unencrypted PEM private key matching the certificate `cert`."""
    _readable(declared, path)
    try:
        # A password callback stops OpenSSL from prompting on the terminal for an encrypted key.
        context.load_cert_chain(certfile=cert, keyfile=path, password=lambda: b"")
    except (ssl.SSLError, UnicodeError):
        expected = f"expected the unencrypted PEM private key of {cert_name} (-----BEGIN PRIVATE KEY-----)"
        raise declared.invalid(str(path), expected) from None


__all__ = ["TlsSettings"]
