#!/usr/bin/env python3
"""A proxy in front of a PostgreSQL Unix socket that can stop answering.

    stall_proxy.py LISTEN_SOCKET SERVER_SOCKET MODE_FILE

Each connection is passed through, both ways, as long as MODE_FILE (read
when the connection is accepted) does not say otherwise:

    pass                 pass everything through (also when the file is missing)
    stall                hold every answer of the server: a server that accepts
                         connections and never completes one
    stall_after_ready    pass the server's answers up to the end of the startup
                         (the first ReadyForQuery), then hold every later answer:
                         a server that accepts a query and never replies, as
                         across a network partition

When it starts holding a connection it creates MODE_FILE.stalled.  Clients
must not ask for SSL or GSS encryption (sslmode=disable gssencmode=disable),
whose first answer is not a protocol message.
"""
import os
import socket
import sys
import threading

listen_path, server_path, mode_file = sys.argv[1:4]


def mode():
    try:
        with open(mode_file) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "pass"


def client_to_server(client, server):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            server.sendall(data)
    except OSError:
        pass
    for s in (client, server):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def server_to_client(server, client, how):
    pending = b""
    holding = how == "stall"
    stall_after_ready = how == "stall_after_ready"
    if holding:
        open(mode_file + ".stalled", "w").close()
    try:
        while True:
            data = server.recv(65536)
            if not data:
                break
            if holding:
                continue
            if not stall_after_ready:
                client.sendall(data)
                continue
            pending += data
            # Whole messages only: a type byte and a length that counts itself.
            while len(pending) >= 5:
                length = int.from_bytes(pending[1:5], "big")
                if len(pending) < 1 + length:
                    break
                message, pending = pending[:1 + length], pending[1 + length:]
                client.sendall(message)
                if message[:1] == b"Z":
                    holding = True
                    open(mode_file + ".stalled", "w").close()
                    break
    except OSError:
        pass


def serve(client):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(server_path)
    threading.Thread(target=client_to_server, args=(client, server), daemon=True).start()
    threading.Thread(target=server_to_client, args=(server, client, mode()), daemon=True).start()


if os.path.exists(listen_path):
    os.unlink(listen_path)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(listen_path)
os.chmod(listen_path, 0o777)
listener.listen(16)
while True:
    conn, _ = listener.accept()
    serve(conn)
