"""Writes a throwaway CA (trustme) and a certificate for 127.0.0.1 into
DIR: ca.pem (for AUTHGATE_OAUTH_EXTRA_CA_FILE), cert.pem and key.pem (for
the client-metadata document server of oauth.py)."""

import pathlib
import sys

import trustme

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
ca = trustme.CA()
cert = ca.issue_cert("127.0.0.1", "localhost")
ca.cert_pem.write_to_path(str(out / "ca.pem"))
cert.cert_chain_pems[0].write_to_path(str(out / "cert.pem"))
cert.private_key_pem.write_to_path(str(out / "key.pem"))
