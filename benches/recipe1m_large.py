"""Writes a large Recipe1M-format root for measuring the readers' peak memory (not a benchmark of
retrieval: the texts are filler, and only the images of the first 16 recipes are written).

    python3 benches/recipe1m_large.py OUT_DIR [N_RECIPES]

With the default N = 1,029,720 (Recipe1M's recipe count) layer1.json is about 1.4 GB, like the real
one. Deterministic: recipe i has id f"{i:010x}", split by i % 10 (7 train, 1 val, 2 test),
3 to 22 instructions and 1 to 3 images.
"""
import json
import os
import sys
import zlib


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_029_720
    os.makedirs(out, exist_ok=True)
    words = ("preheat oven to 350 degrees and whisk the flour sugar butter eggs milk salt pepper "
             "onion garlic tomato chicken beef rice pasta cheese cream lemon honey").split()
    with open(os.path.join(out, "layer1.json"), "w") as l1, \
         open(os.path.join(out, "layer2.json"), "w") as l2, \
         open(os.path.join(out, "det_ingrs.json"), "w") as det:
        for f in (l1, l2, det):
            f.write("[\n")
        for i in range(n):
            rid = f"{i:010x}"
            h = zlib.crc32(rid.encode())
            part = ["train"] * 7 + ["val"] + ["test"] * 2
            n_ing = 2 + h % 12
            n_ins = 3 + (h >> 4) % 20
            sent = lambda k: " ".join(words[(h + k * 7 + j) % len(words)] for j in range(14)) + "."
            rec = {
                "id": rid,
                "title": " ".join(words[(h + j) % len(words)] for j in range(4)),
                "ingredients": [{"text": f"{1 + k % 3} cups {words[(h + k) % len(words)]}"} for k in range(n_ing)],
                "instructions": [{"text": sent(k)} for k in range(n_ins)],
                "partition": part[i % 10],
                "url": f"http://example.org/recipe/{rid}",
            }
            n_img = 1 + (h >> 9) % 3
            imgs = [{"id": f"{(h * 31 + k) & 0xffffffffff:010x}.jpg", "url": "http://example.org/i"} for k in range(n_img)]
            dets = {"id": rid, "ingredients": [{"text": words[(h + k) % len(words)]} for k in range(n_ing)],
                    "valid": [(k + h) % 5 != 0 for k in range(n_ing)]}
            sep = ",\n" if i + 1 < n else "\n"
            l1.write(json.dumps(rec) + sep)
            l2.write(json.dumps({"id": rid, "images": imgs}) + sep)
            det.write(json.dumps(dets) + sep)
        for f in (l1, l2, det):
            f.write("]\n")
    write_images(out, 16)


def write_images(out, count):
    """Tiny JPEG files for the images of the first `count` recipes (Pillow)."""
    from PIL import Image

    part = ["train"] * 7 + ["val"] + ["test"] * 2
    for i in range(count):
        rid = f"{i:010x}"
        h = zlib.crc32(rid.encode())
        for k in range(1 + (h >> 9) % 3):
            iid = f"{(h * 31 + k) & 0xffffffffff:010x}.jpg"
            d = os.path.join(out, "images", part[i % 10], *iid[:4])
            os.makedirs(d, exist_ok=True)
            Image.new("RGB", (32, 24), (i * 13 % 256, 90, 160)).save(os.path.join(d, iid), "JPEG")


if __name__ == "__main__":
    main()
