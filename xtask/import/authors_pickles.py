#!/usr/bin/env python3
"""Convert the SEJE authors' released Phase I pickles into this package's feature stores.

Spec: spec/data-authors-release.md. Run through `cargo xtask import --from DIR --out DIR`, or
directly:

    python3 xtask/import/authors_pickles.py --term id2tfidf_vec.pkl \
        --categories id2img_101_cls_vec.pkl --classes id2class_1005.pkl --out FEATURES

Standard library only. The pickles are read by an unpickler whose `find_class` admits a short
whitelist of NumPy reconstruction globals (and `_codecs.encode`), each mapped to a small stand-in
defined here; NumPy itself is never imported and no other global is ever resolved, so a crafted
pickle cannot run code. Writes `term.safetensors` (f_term F32 [n, dim]) and
`categories.safetensors` (f_cat F32 [n, 5, dim], classes I64 [n]) byte for byte as the Rust writer
`seje::data::feature_store::FeatureWriter` would, and `authors-import.json` (the report).
"""

import argparse
import hashlib
import json
import math
import os
import pickle
import struct
import sys

MAX_IMAGES = 5
PRODUCER = "cargo xtask import (xtask/import/authors_pickles.py)"
REPORT_FILE = "authors-import.json"
# How many ids an error or the report lists before it only counts.
SHOW = 10


class ImportError_(Exception):
    """A refused input: the message names the file and, where there is one, the recipe."""


# Array bytes still allowed while one file is unpickled: the file's size plus 1 MiB. A pickle can
# hand the same bytes object (memo GET) to any number of arrays, each of which would unpack it
# anew; honest files give every array its own bytes, so their arrays together hold fewer bytes than
# the file (spec/untrusted-input.md).
_ALLOWANCE = {"left": None, "limit": None}
MAX_NDIM = 32


def _spend(raw):
    left = _ALLOWANCE["left"]
    if left is None:
        return
    left -= len(raw)
    if left < 0:
        raise TypeError(
            "the arrays unpack to more than %d bytes, more than the file holds: the same data "
            "is shared by many arrays (memo references)" % _ALLOWANCE["limit"]
        )
    _ALLOWANCE["left"] = left


# --- stand-ins for the whitelisted NumPy globals ------------------------------------------------


def _as_bytes(data, what):
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        # Python 2 `str` read with encoding='latin1': one character per byte.
        return data.encode("latin1")
    raise TypeError("%s is a %s, expected bytes" % (what, type(data).__name__))


class StandInDtype:
    """`numpy.dtype(code, align, copy)` followed by `__setstate__` with the byte order."""

    def __init__(self, code, align=False, copy=True):
        code = code.decode("latin1") if isinstance(code, bytes) else str(code)
        self.code = code
        self.kind = code[:1]
        self.size = int(code[1:]) if code[1:].isdigit() else None
        self.byteorder = "="

    def __setstate__(self, state):
        # (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 2:
            raise TypeError("unexpected numpy dtype state %r" % (state,))
        order = state[1]
        order = order.decode("latin1") if isinstance(order, bytes) else order
        if order not in ("<", ">", "|", "="):
            raise TypeError("unexpected numpy byte order %r" % (order,))
        if len(state) >= 5 and (state[3] is not None or state[4] is not None):
            raise TypeError("structured numpy dtypes are not feature vectors")
        self.byteorder = order

    def describe(self):
        return "%s%s" % (self.kind, self.size)

    def _format(self):
        fmt = {
            ("f", 4): "f",
            ("f", 8): "d",
            ("i", 1): "b",
            ("i", 2): "h",
            ("i", 4): "i",
            ("i", 8): "q",
            ("u", 1): "B",
            ("u", 2): "H",
            ("u", 4): "I",
            ("u", 8): "Q",
            ("b", 1): "?",
        }.get((self.kind, self.size))
        if fmt is None:
            raise TypeError("numpy dtype %r is not a number type" % (self.code,))
        # '=' is the writer's native order; the authors' machines were little-endian.
        return (">" if self.byteorder == ">" else "<"), fmt

    def unpack(self, raw, count):
        order, fmt = self._format()
        if len(raw) != count * self.size:
            raise TypeError(
                "array data has %d bytes, %d elements of %s need %d"
                % (len(raw), count, self.code, count * self.size)
            )
        return list(struct.unpack("%s%d%s" % (order, count, fmt), raw))


class StandInArray:
    """`numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` then `__setstate__`."""

    def __init__(self):
        self.shape = None
        self.dtype = None
        self.values = None

    def __setstate__(self, state):
        # (version, shape, dtype, is_fortran, rawdata); version 1 has the leading int.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise TypeError("unexpected numpy array state")
        if len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, raw = state
        if not isinstance(dtype, StandInDtype):
            raise TypeError("numpy array without a dtype")
        if isinstance(raw, list) or dtype.kind == "O":
            raise TypeError("object arrays (dtype %s) are refused" % dtype.code)
        self._fill(tuple(int(d) for d in shape), dtype, bool(fortran), _as_bytes(raw, "array data"))

    def _fill(self, shape, dtype, fortran, raw):
        if len(shape) > MAX_NDIM:
            raise TypeError("an array of %d dimensions (at most %d)" % (len(shape), MAX_NDIM))
        _spend(raw)
        count = 1
        for d in shape:
            count *= d
        values = dtype.unpack(raw, count)
        if fortran and len(shape) > 1:
            values = _fortran_to_c(values, shape)
        self.shape, self.dtype, self.values = shape, dtype, values


def _fortran_to_c(values, shape):
    """Column-major element order to row-major."""
    n = len(values)
    out = [None] * n
    # Strides of the Fortran layout.
    strides = []
    s = 1
    for d in shape:
        strides.append(s)
        s *= d
    for c in range(n):
        rem, f = c, 0
        for axis in range(len(shape) - 1, -1, -1):
            idx = rem % shape[axis]
            rem //= shape[axis]
            f += idx * strides[axis]
        out[c] = values[f]
    return out


class StandInScalar:
    """`numpy.core.multiarray.scalar(dtype, bytes)`: a NumPy scalar (np.int64(3), np.float32(…))."""

    def __init__(self, dtype, raw=None):
        if not isinstance(dtype, StandInDtype):
            raise TypeError("numpy scalar without a dtype")
        if dtype.kind == "O":
            raise TypeError("object scalars are refused")
        self.dtype = dtype
        raw = _as_bytes(raw, "scalar data")
        _spend(raw)
        self.value = dtype.unpack(raw, 1)[0]


def _reconstruct(cls, shape, code):
    if cls is not StandInArray:
        raise TypeError("_reconstruct of something other than numpy.ndarray")
    return StandInArray()


def _frombuffer(buf, dtype, shape, order):
    """Protocol 5: `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`."""
    if isinstance(buf, pickle.PickleBuffer):
        buf = buf.raw()
    if not isinstance(dtype, StandInDtype):
        raise TypeError("_frombuffer without a dtype")
    if dtype.kind == "O":
        raise TypeError("object arrays are refused")
    a = StandInArray()
    order = order.decode("latin1") if isinstance(order, bytes) else order
    a._fill(tuple(int(d) for d in shape), dtype, order == "F", bytes(buf))
    return a


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    """`_codecs.encode(str, 'latin1')`: how Python 3 writes bytes in a protocol-2 pickle."""
    if encoding not in ("latin1", "latin-1", "iso-8859-1") or not isinstance(text, str):
        raise TypeError("_codecs.encode is admitted only for latin1 text")
    return text.encode("latin1")


WHITELIST = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    WHITELIST[(_mod, "_reconstruct")] = _reconstruct
    WHITELIST[(_mod, "scalar")] = StandInScalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    WHITELIST[(_mod, "_frombuffer")] = _frombuffer
WHITELIST[("numpy", "ndarray")] = StandInArray
WHITELIST[("numpy", "dtype")] = StandInDtype
WHITELIST[("_codecs", "encode")] = _codecs_encode


class WhitelistUnpickler(pickle.Unpickler):
    """Resolves only the globals in WHITELIST, to the stand-ins above."""

    def __init__(self, f, path):
        super().__init__(f, encoding="latin1")
        self.path = path

    def find_class(self, module, name):
        try:
            return WHITELIST[(module, name)]
        except KeyError:
            raise ImportError_(
                "%s: refused global %s.%s (the importer admits only NumPy array, dtype and "
                "scalar reconstruction and _codecs.encode; nothing was executed)"
                % (self.path, module, name)
            ) from None

    def persistent_load(self, pid):
        raise ImportError_("%s: refused persistent id %r" % (self.path, pid))


def load(path):
    if not os.path.isfile(path):
        raise ImportError_("%s: no such file" % path)
    limit = os.path.getsize(path) + (1 << 20)
    _ALLOWANCE["left"], _ALLOWANCE["limit"] = limit, limit
    with open(path, "rb") as f:
        try:
            return WhitelistUnpickler(f, path).load()
        except ImportError_:
            raise
        except Exception as e:  # a truncated or malformed pickle, a refused array
            raise ImportError_("%s: not a readable pickle of the authors' kind: %s" % (path, e)) from None
        finally:
            _ALLOWANCE["left"], _ALLOWANCE["limit"] = None, None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- values -------------------------------------------------------------------------------------


class Notes:
    """Facts worth reporting that are not errors (float64 converted, lists truncated)."""

    def __init__(self):
        self.float64 = {}
        self.truncated = []


def recipe_id(key, path):
    if isinstance(key, bytes):
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportError_("%s: recipe id %r is not UTF-8" % (path, key)) from None
    if isinstance(key, str):
        return key
    raise ImportError_("%s: key %r is a %s, not a recipe id string" % (path, key, type(key).__name__))


def vector(value, dim, path, rid, notes, what="f_term"):
    """A float[dim] (NumPy array or list of numbers) as a list of float32-exact Python floats."""
    if isinstance(value, StandInArray):
        if value.dtype.kind != "f":
            raise ImportError_(
                "%s: recipe %s: %s has dtype %s, expected float32"
                % (path, rid, what, value.dtype.describe())
            )
        if value.dtype.size == 8:
            notes.float64[path] = notes.float64.get(path, 0) + 1
        shape, values = value.shape, value.values
    elif isinstance(value, (list, tuple)) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        shape, values = (len(value),), [float(x) for x in value]
    else:
        raise ImportError_(
            "%s: recipe %s: %s is a %s, expected a float[%d] array"
            % (path, rid, what, type(value).__name__, dim)
        )
    if shape != (dim,):
        raise ImportError_(
            "%s: recipe %s: %s has shape %s, expected (%d,)" % (path, rid, what, _shape(shape), dim)
        )
    out = []
    for i, x in enumerate(values):
        if not math.isfinite(x):
            raise ImportError_("%s: recipe %s: %s[%d] is %r (not finite)" % (path, rid, what, i, x))
        try:
            out.append(struct.unpack("<f", struct.pack("<f", x))[0])
        except OverflowError:
            raise ImportError_(
                "%s: recipe %s: %s[%d] = %r does not fit float32" % (path, rid, what, i, x)
            ) from None
    return out


def _shape(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def image_vectors(value, dim, path, rid, notes):
    """The per-image list (1 to 5 float[dim]); a 2-D array [k, dim] is accepted as k images."""
    if isinstance(value, StandInArray) and len(value.shape) == 2:
        k, d = value.shape
        rows = []
        for r in range(k):
            row = StandInArray()
            row.shape, row.dtype, row.values = (d,), value.dtype, value.values[r * d : (r + 1) * d]
            rows.append(row)
        value = rows
    if not isinstance(value, (list, tuple)) or (
        value and all(isinstance(x, (int, float)) for x in value)
    ):
        raise ImportError_(
            "%s: recipe %s: f_cat is a %s, expected a list of 1 to %d float[%d] arrays"
            % (path, rid, type(value).__name__, MAX_IMAGES, dim)
        )
    if not value:
        raise ImportError_("%s: recipe %s: f_cat lists no image" % (path, rid))
    if len(value) > MAX_IMAGES:
        notes.truncated.append(rid)
    return [
        vector(v, dim, path, rid, notes, "f_cat[%d]" % k) for k, v in enumerate(value[:MAX_IMAGES])
    ]


def class_id(value, classes, path, rid):
    if isinstance(value, StandInScalar):
        if value.dtype.kind not in ("i", "u"):
            raise ImportError_(
                "%s: recipe %s: class has dtype %s, expected an integer"
                % (path, rid, value.dtype.describe())
            )
        value = value.value
    elif isinstance(value, StandInArray) and value.shape in ((), (1,)):
        if value.dtype.kind not in ("i", "u"):
            raise ImportError_(
                "%s: recipe %s: class has dtype %s, expected an integer"
                % (path, rid, value.dtype.describe())
            )
        value = value.values[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImportError_(
            "%s: recipe %s: class is a %s, expected an integer" % (path, rid, type(value).__name__)
        )
    if not 0 <= value < classes:
        raise ImportError_("%s: recipe %s: class %d is outside 0..%d" % (path, rid, value, classes))
    return value


def as_dict(obj, path):
    if not isinstance(obj, dict):
        raise ImportError_("%s: holds a %s, expected a dict recipe id -> value" % (path, type(obj).__name__))
    out = {}
    for k, v in obj.items():
        rid = recipe_id(k, path)
        if rid in out:
            raise ImportError_("%s: recipe %s is a key twice (str and bytes)" % (path, rid))
        out[rid] = v
    return out


# --- the feature-store writer (src/data/feature_store.rs, byte for byte) ------------------------


def _json(value):
    # serde_json's compact form: no whitespace, non-ASCII kept, the same escapes.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def store_bytes(ids, config_sha256, metadata, tensors):
    """`FeatureWriter::to_bytes`: tensors is {name: (dtype, shape, bytes)}."""
    meta = dict(metadata)
    meta["ids"] = _json(list(ids))
    meta["config_sha256"] = config_sha256
    entries = {"__metadata__": _json(meta)}
    offset = 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        assert shape[0] == len(ids)
        # Field order as the Rust struct declares it: dtype, shape, data_offsets.
        entries[name] = '{"dtype":%s,"shape":%s,"data_offsets":[%d,%d]}' % (
            _json(dtype),
            _json(list(shape)),
            offset,
            offset + len(data),
        )
        offset += len(data)
    header = "{" + ",".join(_json(k) + ":" + entries[k] for k in sorted(entries)) + "}"
    header = header.encode("utf-8")
    header += b" " * (-len(header) % 8)
    out = [struct.pack("<Q", len(header)), header]
    out.extend(tensors[name][2] for name in sorted(tensors))
    return b"".join(out)


def write_store(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# --- the import -----------------------------------------------------------------------------------


def convert(term_path, cat_path, class_path, out_dir, dim, classes):
    term = as_dict(load(term_path), term_path)
    cats = as_dict(load(cat_path), cat_path)
    labels = as_dict(load(class_path), class_path)
    notes = Notes()

    # Phase II needs all three for every pair: keep the ids every dict has, sorted.
    ids = sorted(set(term) & set(cats) & set(labels))
    if not ids:
        raise ImportError_(
            "no recipe id is in all three pickles (%s: %d, %s: %d, %s: %d)"
            % (term_path, len(term), cat_path, len(cats), class_path, len(labels))
        )
    missing = {
        "term": sorted((set(cats) | set(labels)) - set(term)),
        "categories": sorted((set(term) | set(labels)) - set(cats)),
        "classes": sorted((set(term) | set(cats)) - set(labels)),
    }

    f_term, f_cat, cls = [], [], []
    images = []
    for rid in ids:
        f_term.extend(vector(term[rid], dim, term_path, rid, notes))
        rows = image_vectors(cats[rid], dim, cat_path, rid, notes)
        images.append(len(rows))
        for r in rows:
            f_cat.extend(r)
        # write_categories_store's layout: zero rows after a recipe's images.
        f_cat.extend([0.0] * (dim * (MAX_IMAGES - len(rows))))
        cls.append(class_id(labels[rid], classes, class_path, rid))

    inputs = {
        "categories": {"file": os.path.basename(cat_path), "sha256": sha256_file(cat_path)},
        "classes": {"file": os.path.basename(class_path), "sha256": sha256_file(class_path)},
        "term": {"file": os.path.basename(term_path), "sha256": sha256_file(term_path)},
    }
    # The canonical description of the import; its SHA-256 is every store's config_sha256.
    config = _json({"classes": classes, "dim": dim, "importer": "authors_pickles 1", "inputs": inputs})
    config_sha = hashlib.sha256(config.encode("utf-8")).hexdigest()
    n = len(ids)
    pack = lambda fmt, xs: struct.pack("<%d%s" % (len(xs), fmt), *xs)

    os.makedirs(out_dir, exist_ok=True)
    term_meta = {
        "producer": PRODUCER,
        "import_config": config,
        "note": "f_term: the authors' id2tfidf_vec.pkl, float32 (spec/data-authors-release.md)",
    }
    cat_meta = {
        "producer": PRODUCER,
        "import_config": config,
        "classes": str(classes),
        "note": "f_cat: the authors' id2img_101_cls_vec.pkl, zero rows after a recipe's images; "
        "classes: id2class_1005.pkl (spec/data-authors-release.md)",
    }
    write_store(
        os.path.join(out_dir, "term.safetensors"),
        store_bytes(ids, config_sha, term_meta, {"f_term": ("F32", [n, dim], pack("f", f_term))}),
    )
    write_store(
        os.path.join(out_dir, "categories.safetensors"),
        store_bytes(
            ids,
            config_sha,
            cat_meta,
            {
                "f_cat": ("F32", [n, MAX_IMAGES, dim], pack("f", f_cat)),
                "classes": ("I64", [n], pack("q", cls)),
            },
        ),
    )
    hist = {str(k): images.count(k) for k in range(1, MAX_IMAGES + 1)}
    report = {
        "config_sha256": config_sha,
        "import_config": json.loads(config),
        "rows": n,
        "entries": {"term": len(term), "categories": len(cats), "classes": len(labels)},
        "dropped": {k: {"count": len(v), "first": v[:SHOW]} for k, v in missing.items()},
        "images_per_recipe": hist,
        "float64_converted": {os.path.basename(k): v for k, v in sorted(notes.float64.items())},
        "more_than_5_images": {"count": len(notes.truncated), "first": notes.truncated[:SHOW]},
        "not_imported": "sentence features: im2recipe's encs_{train,val,test}_1024.t7, converted by "
        "`seje features sentences --root RECIPE1M --from-t7 DIR`; the checkpoint: seje reads the .pth.tar directly",
    }
    with open(os.path.join(out_dir, REPORT_FILE), "w", encoding="utf-8") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def summary(report, out_dir):
    lines = [
        "imported %d recipes into %s (config_sha256 %s)"
        % (report["rows"], out_dir, report["config_sha256"]),
        "  entries: term %(term)d, categories %(categories)d, classes %(classes)d" % report["entries"],
    ]
    for k, v in sorted(report["dropped"].items()):
        if v["count"]:
            lines.append(
                "  dropped %d ids missing from the %s pickle (first: %s)"
                % (v["count"], k, ", ".join(v["first"]))
            )
    lines.append(
        "  images per recipe: "
        + ", ".join("%s: %d" % (k, v) for k, v in sorted(report["images_per_recipe"].items()))
    )
    for f, c in report["float64_converted"].items():
        lines.append("  note: %s: %d float64 vectors rounded to float32" % (f, c))
    if report["more_than_5_images"]["count"]:
        lines.append(
            "  note: %d recipes list more than 5 images; the first 5 are kept (the authors' loader "
            "draws among the first 5)" % report["more_than_5_images"]["count"]
        )
    lines.append(
        "  not in these pickles: the sentence features (im2recipe's encs_*_1024.t7): run "
        "`seje features sentences --root RECIPE1M --from-t7 DIR --out %s`" % out_dir
    )
    lines.append("  wrote term.safetensors, categories.safetensors, %s" % REPORT_FILE)
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--term", required=True, help="id2tfidf_vec.pkl (id_tfidf_tri_vec_all_v4.pkl)")
    p.add_argument("--categories", required=True, help="id2img_101_cls_vec.pkl")
    p.add_argument("--classes", required=True, help="id2class_1005.pkl")
    p.add_argument("--out", required=True, help="output directory (the Phase II FEATURES dir)")
    p.add_argument("--dim", type=int, default=300, help="vector width (300)")
    p.add_argument("--num-classes", type=int, default=1005, help="number of classes (1005)")
    a = p.parse_args(argv)
    try:
        report = convert(a.term, a.categories, a.classes, a.out, a.dim, a.num_classes)
    except ImportError_ as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print(summary(report, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
