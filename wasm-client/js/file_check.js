// src/file_check.rs: how reading `blob`'s last byte ends, through FileReader, whose errors the File
// API names (NotFoundError, NotReadableError); Blob.arrayBuffer() rejects a deleted file with an
// unnamed AbortError in Firefox. Resolves with null (the byte was read), 'short' (no byte: the
// file is shorter now) or the reader's DOMException.
export function readLastByte(blob) {
  return new Promise(resolve => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.byteLength === 1 ? null : 'short');
    reader.onerror = () => resolve(reader.error);
    reader.readAsArrayBuffer(blob.slice(blob.size - 1));
  });
}
