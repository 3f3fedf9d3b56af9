"""The corpus of the HTTP/1.1 differential test: RFC 9112 edge cases, known
request-smuggling shapes, and heads mutated from valid requests.

Prints a JSON list of {"name", "class", "hex"} on standard output; the
payloads are what a client sends on one connection, bytes as hex. The corpus
is the same on every run (the mutations use a fixed seed).
"""
import json
import random
import sys

P = "/v1/shops/demo/orders"
cases = []


def case(cls, name, text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    cases.append({"name": f"{cls}: {name}", "class": cls, "hex": data.hex()})


def req(head, body=""):
    return f"POST {P} HTTP/1.1\r\nHost: h\r\n{head}\r\n{body}"


NEXT = f"GET {P}?next HTTP/1.1\r\nHost: h\r\n\r\n"

# Valid messages, alone and pipelined.
case("valid", "get", f"GET {P} HTTP/1.1\r\nHost: h\r\n\r\n")
case("valid", "get with query", f"GET {P}?a=1&b=%20 HTTP/1.1\r\nHost: h\r\n\r\n")
case("valid", "post with length", req("Content-Length: 5\r\n", "hello"))
case("valid", "post with length zero", req("Content-Length: 0\r\n"))
case("valid", "chunked", req("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"))
case("valid", "chunked, two chunks", req("Transfer-Encoding: chunked\r\n", "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"))
case("valid", "chunked with extension", req("Transfer-Encoding: chunked\r\n", "5;a=b\r\nhello\r\n0\r\n\r\n"))
case("valid", "chunked with quoted extension", req("Transfer-Encoding: chunked\r\n", '5;a="b c"\r\nhello\r\n0\r\n\r\n'))
case("valid", "chunked with trailer", req("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"))
case("valid", "chunked upper-case hex", req("Transfer-Encoding: chunked\r\n", "A\r\n0123456789\r\n0\r\n\r\n"))
case("valid", "chunked, size with leading zeros", req("Transfer-Encoding: chunked\r\n", "0005\r\nhello\r\n0\r\n\r\n"))
case("valid", "two pipelined", f"GET {P} HTTP/1.1\r\nHost: h\r\n\r\n" + NEXT)
case("valid", "post then get", req("Content-Length: 2\r\n", "ok") + NEXT)
case("valid", "chunked then get", req("Transfer-Encoding: chunked\r\n", "1\r\nx\r\n0\r\n\r\n") + NEXT)
case("valid", "http/1.0 without host", f"GET {P} HTTP/1.0\r\n\r\n")
case("valid", "host with port", f"GET {P} HTTP/1.1\r\nHost: h:8080\r\n\r\n")
case("valid", "host as ipv6", f"GET {P} HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
case("valid", "empty host", f"GET {P} HTTP/1.1\r\nHost:\r\n\r\n")
case("valid", "header without space", f"GET {P} HTTP/1.1\r\nHost:h\r\nX-A:1\r\n\r\n")
case("valid", "header with tab", f"GET {P} HTTP/1.1\r\nHost:\th\t\r\n\r\n")
case("valid", "same content-length twice", req("Content-Length: 2\r\nContent-Length: 2\r\n", "ok"))
case("valid", "case of transfer-encoding", req("transfer-ENCODING: CHUNKED\r\n", "1\r\nx\r\n0\r\n\r\n"))
case("valid", "absolute-form target", f"GET http://h{P} HTTP/1.1\r\nHost: h\r\n\r\n")
case("valid", "expect 100-continue", req("Expect: 100-continue\r\nContent-Length: 2\r\n", "ok"))
case("valid", "keep-alive in http/1.0", f"GET {P} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + f"GET {P} HTTP/1.0\r\n\r\n")

# CL.TE and TE.CL: both framings given.
for cl, body in [("5", "0\r\n\r\n"), ("3", "1\r\nx\r\n0\r\n\r\n"), ("0", "5\r\nhello\r\n0\r\n\r\n"), ("50", "5\r\nhello\r\n0\r\n\r\n")]:
    case("CL.TE", f"length {cl} then chunked", req(f"Content-Length: {cl}\r\nTransfer-Encoding: chunked\r\n", body) + NEXT)
    case("TE.CL", f"chunked then length {cl}", req(f"Transfer-Encoding: chunked\r\nContent-Length: {cl}\r\n", body) + NEXT)
case("CL.TE", "smuggled GET in a chunked body", req("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "5c\r\nGPOST / HTTP/1.1\r\nHost: h\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n"))
case("TE.CL", "smuggled by a length shorter than the chunks", req("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "8\r\nSMUGGLED\r\n0\r\n\r\n"))

# Obfuscated Transfer-Encoding (TE.TE).
for te in ["xchunked", "chunkedx", " chunked", "chunked ", "\tchunked", "chunked\t", "chunk", "chunked;q=1",
           "identity, chunked", "chunked, identity", "chunked, chunked", "gzip, chunked", "chunked, gzip",
           '"chunked"', "cHuNkEd", "chunked\x00", "\x0bchunked", "chunked\x0c", ",chunked", "chunked,",
           "identity", "", "chunked\r\n x"]:
    case("TE.TE", f"Transfer-Encoding {te!r}", req(f"Transfer-Encoding: {te}\r\n", "5\r\nhello\r\n0\r\n\r\n") + NEXT)
    case("TE.TE", f"Transfer-Encoding {te!r} beside a length", req(f"Transfer-Encoding: {te}\r\nContent-Length: 5\r\n", "hello") + NEXT)
for name in ["Transfer-Encoding ", "Transfer-Encoding\t", " Transfer-Encoding", "Transfer_Encoding", "Transfer-Encodings", "X-Transfer-Encoding"]:
    case("TE.TE", f"field name {name!r}", req(f"{name}: chunked\r\nContent-Length: 5\r\n", "hello") + NEXT)
case("TE.TE", "two Transfer-Encoding fields", req("Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", "5\r\nhello\r\n0\r\n\r\n") + NEXT)
case("TE.TE", "two Transfer-Encoding fields, chunked last", req("Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") + NEXT)
case("TE.TE", "Transfer-Encoding in HTTP/1.0", f"POST {P} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")

# Content-Length oddities.
for cl in ["+5", "-5", "5 5", "5,5", "5, 6", "0x5", "5.0", "05", " 5", "5 ", "", "99999999999999999999", "1e1", "٥", "5\x00"]:
    case("CL", f"Content-Length {cl!r}", req(f"Content-Length: {cl}\r\n", "hello") + NEXT)
case("CL", "two different lengths", req("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!") + NEXT)
case("CL", "length longer than the data", req("Content-Length: 10\r\n", "hello"))
case("CL", "length on a GET", f"GET {P} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + NEXT)

# Chunk sizes.
for size in ["0x5", "+5", "-5", " 5", "5 ", "5\t", "5\x0c", "5\x0b", "5\x00", "g", "", "5 ;a", "5; a = b ", "ffffffffffffffff", "10000000000000000", "5;", "5;a=", "5;a b", '5;a="x', "5;\x00", "5;a=b c"]:
    case("chunk-size", f"size {size!r}", req("Transfer-Encoding: chunked\r\n", f"{size}\r\nhello\r\n0\r\n\r\n") + NEXT)
case("chunk-size", "data longer than its size", req("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n") + NEXT)
case("chunk-size", "data shorter than its size", req("Transfer-Encoding: chunked\r\n", "7\r\nhello\r\n0\r\n\r\n") + NEXT)
case("chunk-size", "missing last chunk", req("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n") + NEXT)

# Bare LF and CR.
case("bare LF", "after the request line", f"GET {P} HTTP/1.1\nHost: h\r\n\r\n" + NEXT)
case("bare LF", "after a header", f"GET {P} HTTP/1.1\r\nHost: h\n\r\n" + NEXT)
case("bare LF", "ending the head", f"GET {P} HTTP/1.1\r\nHost: h\r\n\n" + NEXT)
case("bare LF", "all of the head", f"GET {P} HTTP/1.1\nHost: h\n\n" + NEXT)
case("bare LF", "after a chunk size", req("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n") + NEXT)
case("bare LF", "after chunk data", req("Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n") + NEXT)
case("bare LF", "last chunk then LF (0 CRLF LF)", req("Transfer-Encoding: chunked\r\n", "0\r\n\n") + NEXT)
case("bare LF", "last chunk LF then CRLF (0 LF CRLF)", req("Transfer-Encoding: chunked\r\n", "0\n\r\n") + NEXT)
case("bare LF", "in a trailer", req("Transfer-Encoding: chunked\r\n", "0\r\nX: 1\n\r\n") + NEXT)
case("bare CR", "in a header value", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n" + NEXT)
case("bare CR", "after a chunk size", req("Transfer-Encoding: chunked\r\n", "5\rhello\r\n0\r\n\r\n") + NEXT)
case("bare CR", "ending a chunk line", req("Transfer-Encoding: chunked\r\n", "5\r\r\nhello\r\n0\r\n\r\n") + NEXT)

# Trailers.
for t in ["X", " X: 1", "X y: 1", "X: a\x00b", ": v", "X:\x01", "Content-Length: 5", "Transfer-Encoding: chunked", "X: 1\r\n Y"]:
    case("trailer", f"trailer {t!r}", req("Transfer-Encoding: chunked\r\n", f"5\r\nhello\r\n0\r\n{t}\r\n\r\n") + NEXT)

# obs-fold and other header shapes.
case("obs-fold", "folded header", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n" + NEXT)
case("obs-fold", "folded with tab", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n" + NEXT)
case("obs-fold", "folded Transfer-Encoding", req("Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n") + NEXT)
case("obs-fold", "first line folded", f"GET {P} HTTP/1.1\r\n X: a\r\nHost: h\r\n\r\n" + NEXT)
case("header", "space before colon", f"GET {P} HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n" + NEXT)
case("header", "no colon", f"GET {P} HTTP/1.1\r\nHost: h\r\nX a\r\n\r\n" + NEXT)
case("header", "empty name", f"GET {P} HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n" + NEXT)
case("header", "NUL in value", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n" + NEXT)
case("header", "DEL in value", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n" + NEXT)
case("header", "non-ASCII in value", f"GET {P} HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n" + NEXT)
case("header", "non-ASCII in name", f"GET {P} HTTP/1.1\r\nHost: h\r\nX\xe9: a\r\n\r\n" + NEXT)
case("header", "control in name", f"GET {P} HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n" + NEXT)

# Host.
case("host", "missing", f"GET {P} HTTP/1.1\r\n\r\n" + NEXT)
case("host", "twice", f"GET {P} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + NEXT)
case("host", "twice, the same", f"GET {P} HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n" + NEXT)
for host in ["a b", "a/b", "a@b", "a:x", "a:80:80", "[zz]", "a\tb", "a,b", "a?b", "a#b", "\x01"]:
    case("host", f"invalid {host!r}", f"GET {P} HTTP/1.1\r\nHost: {host}\r\n\r\n" + NEXT)

# The request line and its target.
for target in [f"{P}\x80", "/caf\xe9", "/a\x7fb", "/a\x00b", "/a b", "/a\tb", "*", "", "a", "//", "/%", "/%zz", "/a#frag", "/a?b c"]:
    case("target", f"target {target!r}", f"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n" + NEXT)
for line in [f"GET  {P} HTTP/1.1", f"GET {P}  HTTP/1.1", f" GET {P} HTTP/1.1", f"GET {P} HTTP/1.1 ", f"GET {P} HTTP/1.2",
             f"GET {P} HTTP/2.0", f"GET {P} HTTP/1", f"GET {P} http/1.1", f"GET {P}", f"G\x00T {P} HTTP/1.1", f"get {P} HTTP/1.1",
             f"GE(T {P} HTTP/1.1", f"GET\t{P} HTTP/1.1", f"GET {P} HTTP/1.10", f"GET {P} HTTP/01.1", "\r\n" + f"GET {P} HTTP/1.1"]:
    case("request line", f"{line!r}", f"{line}\r\nHost: h\r\n\r\n" + NEXT)

# Heads mutated from valid requests: a byte inserted, removed or replaced.
random.seed(9112)
bases = [c for c in cases if c["class"] == "valid"]
noise = b"\r\n \t:;0a\x00\x7f\x80,\"=-"
for i in range(2000):
    data = bytearray(bytes.fromhex(random.choice(bases)["hex"]))
    for _ in range(random.randint(1, 3)):
        at = random.randrange(len(data) + 1)
        kind = random.randrange(3)
        if kind == 0:
            data.insert(at, random.choice(noise))
        elif kind == 1 and at < len(data):
            del data[at]
        elif at < len(data):
            data[at] = random.choice(noise)
    case("mutated", f"mutation {i}", bytes(data))

json.dump(cases, sys.stdout)
