"""Production hosts: what each host of hub.yaml runs (systemd units) and which files of the
site it holds, rendered as one bundle per host (`corridor deploy render`)."""
