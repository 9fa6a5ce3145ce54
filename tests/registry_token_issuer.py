#!/usr/bin/env python3
"""registry_token_issuer.py - a token server for the registry tests (docker-registry's "token"
auth): answers GET /token?service=..&scope=repository:NAME:pull over HTTPS with an RS256 JWT
signed by a test key whose certificate the registry trusts (rootcertbundle). Basic credentials
are required when USERPASS is not "-". Every token handed out appends a line to COUNTFILE.
Only the standard library and the openssl command.

usage: registry_token_issuer.py PORT TLS_CERT TLS_KEY SIGN_KEY SIGN_CERT ISSUER SERVICE USERPASS COUNTFILE
"""
import base64
import http.server
import json
import ssl
import subprocess
import sys
import time
import urllib.parse

PORT, TLS_CERT, TLS_KEY, SIGN_KEY, SIGN_CERT, ISSUER, SERVICE, USERPASS, COUNTFILE = sys.argv[1:10]
DER = subprocess.run(["openssl", "x509", "-in", SIGN_CERT, "-outform", "DER"], check=True,
                     capture_output=True).stdout


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims):
    header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(DER).decode()]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", SIGN_KEY], input=signing_input.encode(),
                         check=True, capture_output=True).stdout
    return signing_input + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/token":
            self.answer(404, {"error": "not found"})
            return
        if USERPASS != "-":
            want = "Basic " + base64.b64encode(USERPASS.encode()).decode()
            if self.headers.get("Authorization") != want:
                self.answer(401, {"error": "bad credentials"})
                return
        q = urllib.parse.parse_qs(url.query)
        access = []
        for scope in q.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
                access.append({"type": "repository", "name": parts[1], "actions": parts[2].split(",")})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "archgate", "aud": q.get("service", [SERVICE])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(time.time_ns()), "access": access}
        with open(COUNTFILE, "a") as f:
            f.write(url.query + "\n")
        self.answer(200, {"token": sign(claims), "expires_in": 300})


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(TLS_CERT, TLS_KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
