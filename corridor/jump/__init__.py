"""The jump server: the one audited door for administrators.

An SSH bastion (asyncssh) configured from the site directory: admins prove an SSH key and
a TOTP code, reach only the hosts and ports of their roles (ProxyJump or a brokered,
recorded session) and every decision lands in a JSON-lines audit log.
"""
