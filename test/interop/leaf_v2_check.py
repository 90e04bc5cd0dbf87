"""Independent check of test/core/vectors/leaf-v2.json: Python's hashlib and the rfc8785 package (PyPI).

Run: python3 -m pip install rfc8785==0.1.4 && python3 test/interop/leaf_v2_check.py
Exits non-zero, naming the vector and the field, on the first value that differs.
"""

import hashlib
import json
import pathlib
import sys

import rfc8785

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "core" / "vectors" / "leaf-v2.json"


def main() -> int:
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    for v in data["vectors"]:
        payload_text = rfc8785.dumps(v["payload"])
        salt = bytes.fromhex(v["payloadSalt"])
        payload_hash = hashlib.sha256(salt + payload_text).hexdigest()
        leaf = rfc8785.dumps(
            {
                "v": 2,
                "sourceAppId": v["sourceAppId"],
                "seq": v["seq"],
                "prevHash": v["prevHash"],
                "eventType": v["eventType"],
                "timestamp": v["timestamp"],
                "receivedAt": v["receivedAt"],
                "payloadHash": payload_hash,
            }
        )
        leaf_hash = hashlib.sha256(b"\x00" + leaf).hexdigest()
        v1 = rfc8785.dumps({k: v[k] for k in ("sourceAppId", "seq", "prevHash", "eventType", "timestamp", "receivedAt", "payload")} | {"v": 1})
        v1_hash = hashlib.sha256(b"\x00" + v1).hexdigest()
        checks = [
            ("payloadText", payload_text, v["payloadText"].encode("utf-8")),
            ("payloadHash", payload_hash, v["payloadHash"]),
            ("leafText", leaf, v["leafText"].encode("utf-8")),
            ("leafHex", leaf.hex(), v["leafHex"]),
            ("hash", leaf_hash, v["hash"]),
            ("v1Hash", v1_hash, v["v1Hash"]),
        ]
        for field, got, want in checks:
            if got != want:
                print(f"{v['name']}: {field} differs\n  python: {got!r}\n  vector: {want!r}", file=sys.stderr)
                return 1
    print(f"{len(data['vectors'])} leaf version 2 vectors agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
