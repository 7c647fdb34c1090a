# Diagnostic only (not committed as a tool): a copy of categories.safetensors whose f_cat rows
# are the vector of each photograph's TRUE dish instead of the categoriser's top-1 class.
import json, struct, sys
import numpy as np
cat_dir, truth_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(f"{cat_dir}/categories.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
base = 8 + n
info = header["f_cat"]
a, b = info["data_offsets"]
shape = info["shape"]
f = np.frombuffer(raw[base + a:base + b], dtype="<f4").reshape(shape).copy()
ids = json.loads(header["__metadata__"]["ids"])
preds = [json.loads(l) for l in open(f"{cat_dir}/predictions.jsonl")]
assert [p["id"] for p in preds] == ids
truth = {t["id"]: t["category"] for t in json.load(open(truth_file))}
vec = {}
for r, p in enumerate(preds):
    for k, c in enumerate(p["predictions"]):
        vec.setdefault(c, f[r, k].copy())
changed = total = 0
for r, p in enumerate(preds):
    d = truth[p["id"]]
    for k, c in enumerate(p["predictions"]):
        total += 1
        if c != d:
            f[r, k] = vec[d]
            changed += 1
new = raw[:base + a] + f.astype("<f4").tobytes() + raw[base + b:]
assert len(new) == len(raw)
open(out, "wb").write(new)
print(f"{changed} of {total} photographs' f_cat replaced by their true dish's vector")
