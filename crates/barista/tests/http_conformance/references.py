"""The references of the HTTP/1.1 differential test: each payload of the
corpus (JSON on standard input) read as a server reads it by two parsers
written independently of Barista's: h11 (pure Python) and httptools
(llhttp, Node.js's parser). For each, the messages read (method, target,
body as hex) up to the first error, and whether one came.
"""
import json
import sys

import h11
import httptools


def by_h11(data):
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    messages, current = [], None
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return messages, False
            if isinstance(event, h11.Request):
                current = [event.method.decode("latin-1"), event.target.decode("latin-1"), b""]
            elif isinstance(event, h11.Data):
                current[2] += event.data
            elif isinstance(event, h11.EndOfMessage):
                messages.append([current[0], current[1], current[2].hex()])
                conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
    except (h11.RemoteProtocolError, h11.LocalProtocolError):
        return messages, True


class Reader:
    def __init__(self):
        self.messages, self.url, self.body = [], b"", b""
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self):
        self.url, self.body = b"", b""

    def on_url(self, url):
        self.url += url

    def on_body(self, body):
        self.body += body

    def on_message_complete(self):
        method = self.parser.get_method().decode("latin-1")
        self.messages.append([method, self.url.decode("latin-1"), self.body.hex()])


def by_llhttp(data):
    reader = Reader()
    try:
        reader.parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return reader.messages, True
    return reader.messages, False


cases = json.load(sys.stdin)
out = {}
for c in cases:
    data = bytes.fromhex(c["hex"])
    h, he = by_h11(data)
    l, le = by_llhttp(data)
    out[c["name"]] = {"h11": {"messages": h, "error": he}, "llhttp": {"messages": l, "error": le}}
json.dump(out, sys.stdout)
