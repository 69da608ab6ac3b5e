"""TXN: the transaction engine. Use cases run as group-committed commands
(`commands`), the internal mTLS API (`server`), the worker that drives transfers forward
(`worker`) through receive-partner connectors (`connectors`), and the operator CLI."""
