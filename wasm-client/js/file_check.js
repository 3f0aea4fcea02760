// src/file_check.rs: after a read of one of `file`'s parts failed, why the file itself is no longer
// what was chosen, or null when it still reads (the failure was transient).
//
// Its first bytes are read from the File itself, not from a new slice: a File changed or deleted on
// disk fails this in every engine, while a Blob built in memory, whose slices Chromium refuses
// while its blob store is full, still reads (no new blob is made). Error names do not tell the two
// apart: Chromium names both NotReadableError. Then its last byte, which a truncated file no
// longer has (Firefox and WebKit read it short rather than fail); an error there is ignored, since
// that slice is a new blob.
export async function fileChangedSinceChosen(file) {
  if (typeof file.stream === 'function') {
    const reader = file.stream().getReader();
    try {
      await reader.read();
    } catch (error) {
      return `it cannot be read any more: ${error}`;
    } finally {
      reader.cancel().catch(() => {});
    }
  }
  if (file.size > 0 && typeof file.arrayBuffer === 'function') {
    const last = await file.slice(file.size - 1).arrayBuffer().catch(() => null);
    if (last?.byteLength === 0) return 'it is shorter now';
  }
  return null;
}
