"""The partner API contract: wire schemas shared by EIG (validation, OpenAPI) and TXN."""
