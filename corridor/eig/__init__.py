"""EIG, the partner gateway: the only door partners knock on. It proves who is calling
(client certificate, source IP, API key), validates the request, limits its rate, audits
every refusal and relays the call to TXN's internal API. It keeps no money state."""
