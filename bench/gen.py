#!/usr/bin/env python3
"""Writes the shared benchmark workload (../shared/bench/README.md) as reqtest
collections: POST /token capturing $.access_token, then N x GET /json sending
the captured token and asserting status 200 and $.nested.n == EXPECT.

Usage: gen.py [--out DIR] [--base URL] [--expect 42] [--templated] [N ...]
Writes DIR/n<N>/bench.reqtest.yaml for each N (the folders run-peers.sh uses).

--templated: reqtest's own variant, as users write collections: the base URL
a variable, every request a distinct templated URL (`?page=I`, one with a
filter) and header, and the token captured as a secret (so every output is
masked).
"""
import argparse
import os


def quoted(text, templated):
    return f'"{text}"' if templated else text


def collection(n, base, expect, templated=False):
    url = "{{ base }}" if templated else base
    capture = "{jsonpath: $.access_token, secret: true}" if templated else "$.access_token"
    out = [f"name: bench-n{n}\n"]
    if templated:
        out += ["vars:\n", f"  base: {base}\n"]
    out += [
        "requests:\n",
        "  - name: token\n",
        "    method: POST\n",
        f"    url: {quoted(url + '/token', templated)}\n",
        "    expect:\n",
        "      status: 200\n",
        "    capture:\n",
        f"      token: {capture}\n",
    ]
    for i in range(1, n + 1):
        path = f"/json?page={i}&size={{{{ token | length }}}}" if templated else "/json"
        out += [
            f"  - name: json {i}\n",
            f"    url: {quoted(url + path, templated)}\n",
            "    headers:\n",
            '      Authorization: "Bearer {{ token }}"\n',
        ]
        if templated:
            out.append(f'      X-Request: "{i} of {{{{ base }}}}"\n')
        out += [
            "    expect:\n",
            "      status: 200\n",
            "      json:\n",
            f"        $.nested.n: {expect}\n",
        ]
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--base", default="http://127.0.0.1:18080")
    ap.add_argument("--expect", default="42")
    ap.add_argument("--templated", action="store_true")
    ap.add_argument("n", nargs="*", type=int, default=[1, 100, 1000])
    a = ap.parse_args()
    for n in a.n:
        d = os.path.join(a.out, f"n{n}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "bench.reqtest.yaml"), "w", encoding="utf-8") as f:
            f.write(collection(n, a.base, a.expect, a.templated))
        print(d)


if __name__ == "__main__":
    main()
