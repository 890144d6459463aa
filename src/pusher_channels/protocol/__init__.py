"""The sans-I/O core of the Pusher Channels protocol.

No asyncio, sockets, HTTP or clock here (a test checks the imports): inputs come in
as method calls with ``now`` as a number, outputs go out as plain objects. See
:class:`~pusher_channels.protocol.connection.Connection`.
"""
