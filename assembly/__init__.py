"""The application assembly: the app factory, the CLI, the demo and seeding.

It wires every context onto the infrastructure in ``machipay``; it imports them all and
nothing imports it (DESIGN.md 2: assembly → contexts → ledger → infrastructure).
"""
