#!/usr/bin/env python3
"""Joins the SIMD128 build of the wasm client to the scalar build's package (scripts/build-client-pkg.sh).

    join-client-builds.py PKG_DIR SIMD_PKG_DIR

The package ships one JS glue for both .wasm files, so both builds' glue must be the same. It is,
byte for byte, but for one thing: wasm-bindgen names the wasm exports of its closure shims after
their index in the module's function table (`__wasm_bindgen_func_elem_2276`), and the SIMD build's
kernel adds functions, which shifts those indices. So the glue files are compared with those names
masked; they must pair up one to one, in the same places, and the SIMD .wasm's exports are renamed
to the scalar build's names. Anything else that differs fails the build. Then it checks, with node,
that both modules import and export exactly the same names and kinds, writes the SIMD module as
PKG_DIR/partup_simd_bg.wasm, makes the glue's default wasm URL a choice made once by
`WebAssembly.validate` of a tiny SIMD module (each URL a literal `new URL('…', import.meta.url)`,
which bundlers recognise), and lists the new file in package.json.
"""
import json
import os
import re
import subprocess
import sys

SHIM = re.compile(r"__wasm_bindgen_func_elem_\d+")
GLUE_FILES = ["partup.js", "partup.d.ts", "partup_bg.wasm.d.ts"]


def fail(message):
    sys.exit(f"error: {message}")


def shim_renames(scalar_text, simd_text, renames, name):
    """Adds to `renames` (SIMD name → scalar name) what pairs up in one glue file."""
    if SHIM.split(scalar_text) != SHIM.split(simd_text):
        fail(f"the scalar and the SIMD128 builds' {name} differ in more than the closure shims' "
             "names (diff the two builds' output): the one glue of the package cannot drive both; "
             "look for code under cfg(target_feature = \"simd128\") that wasm-bindgen sees")
    for scalar, simd in zip(SHIM.findall(scalar_text), SHIM.findall(simd_text)):
        if renames.setdefault(simd, scalar) != scalar:
            fail(f"{simd} of the SIMD128 build pairs with two names of the scalar build")
    if len(set(renames.values())) != len(renames):
        fail("two closure shims of the SIMD128 build pair with one of the scalar build")


def leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_leb(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def rename_exports(wasm, renames):
    """The module with its export section's names renamed (section 7: a vector of name, kind,
    index); every other section is copied as it is."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        fail("the SIMD128 build's .wasm is not a wasm module")
    out = bytearray(wasm[:8])
    at = 8
    renamed = 0
    while at < len(wasm):
        section_id = wasm[at]
        size, body_at = read_leb(wasm, at + 1)
        body = wasm[body_at:body_at + size]
        if section_id == 7:
            count, pos = read_leb(body, 0)
            new_body = bytearray(leb(count))
            for _ in range(count):
                length, pos = read_leb(body, pos)
                name = body[pos:pos + length].decode()
                pos += length
                kind = body[pos]
                index, after = read_leb(body, pos + 1)
                pos = after
                if name in renames:
                    name = renames[name]
                    renamed += 1
                encoded = name.encode()
                new_body += leb(len(encoded)) + encoded + bytes([kind]) + leb(index)
            body = bytes(new_body)
        out += bytes([section_id]) + leb(len(body)) + body
        at = body_at + size
    if renamed != len(renames):
        fail(f"renamed {renamed} exports of the SIMD128 build, expected {len(renames)}")
    return bytes(out)


def same_interface(scalar_path, simd_path):
    check = """
const fs = require('fs');
const shape = file => {
  const module = new WebAssembly.Module(fs.readFileSync(file));
  return JSON.stringify([WebAssembly.Module.imports(module), WebAssembly.Module.exports(module)]);
};
process.exit(shape(process.argv[1]) === shape(process.argv[2]) ? 0 : 1);
"""
    return subprocess.run(["node", "-e", check, scalar_path, simd_path]).returncode == 0


def main():
    out, simd_out = sys.argv[1], sys.argv[2]
    renames = {}
    for name in GLUE_FILES:
        shim_renames(open(os.path.join(out, name)).read(), open(os.path.join(simd_out, name)).read(),
                     renames, name)
    for root, _, files in os.walk(os.path.join(simd_out, "snippets")):
        for file in files:
            simd_file = os.path.join(root, file)
            scalar_file = os.path.join(out, os.path.relpath(simd_file, simd_out))
            if not os.path.exists(scalar_file) or open(scalar_file, "rb").read() != open(simd_file, "rb").read():
                fail(f"the SIMD128 build's {os.path.relpath(simd_file, simd_out)} differs from the scalar build's")

    simd_wasm = rename_exports(open(os.path.join(simd_out, "partup_bg.wasm"), "rb").read(), renames)
    simd_path = os.path.join(out, "partup_simd_bg.wasm")
    open(simd_path, "wb").write(simd_wasm)
    if not same_interface(os.path.join(out, "partup_bg.wasm"), simd_path):
        os.remove(simd_path)
        fail("the scalar and the SIMD128 modules do not import and export the same names and kinds")

    glue_path = os.path.join(out, "partup.js")
    glue = open(glue_path).read()
    default_url = "new URL('partup_bg.wasm', import.meta.url)"
    if glue.count(default_url) != 1:
        fail(f"expected the glue to name its wasm once, as {default_url} (has wasm-bindgen changed?)")
    # i32.const 0; i8x16.splat; i8x16.popcnt: a module that validates only where SIMD128 runs.
    detect = ("// partup: the wasm SIMD128 build where the engine runs SIMD128 (its hashing workers hash\n"
              "// 4 parts at once), else the scalar build. Both URLs stay literal, for bundlers.\n"
              "const partupSimd128 = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, "
              "123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));\n")
    chosen = ("(partupSimd128 ? new URL('partup_simd_bg.wasm', import.meta.url) "
              ": new URL('partup_bg.wasm', import.meta.url))")
    lines = glue.replace(default_url, chosen).split("\n")
    imports = [i for i, line in enumerate(lines[:40]) if line.startswith("import ")]
    # After the glue's imports (a module's imports are hoisted anyway), before any of its code.
    lines.insert(imports[-1] + 1 if imports else 0, "\n" + detect)
    open(glue_path, "w").write("\n".join(lines))

    manifest_path = os.path.join(out, "package.json")
    if os.path.exists(manifest_path):
        manifest = json.load(open(manifest_path))
        files = manifest.setdefault("files", [])
        if "partup_simd_bg.wasm" not in files:
            files.insert(files.index("partup_bg.wasm") + 1 if "partup_bg.wasm" in files else 0,
                         "partup_simd_bg.wasm")
        open(manifest_path, "w").write(json.dumps(manifest, indent=2) + "\n")
    print(f"joined the SIMD128 build: partup_simd_bg.wasm ({len(simd_wasm)} bytes), "
          f"{len(renames)} closure shim exports renamed to the scalar build's names", file=sys.stderr)


if __name__ == "__main__":
    main()
