"""A partner's arrival and departure, each one command: `corridor partner onboard` writes
its file, secrets and certificate, checks the perimeter and hands over its kit, all or
nothing; `corridor partner offboard` shuts every door and keeps its history.

These compose the parts that own each piece (the site editor and its staging, the PKI, the
perimeter in `corridor.net`, TXN's store) and belong to none of them, hence a package of
their own rather than a corner of EIG's.
"""
