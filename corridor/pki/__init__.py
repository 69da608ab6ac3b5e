"""The hub PKI: CAs, certificates, revocation, expiry watch, TLS contexts."""
