// Why `file` is no longer what was chosen, or null: see src/file_check.rs. Its first bytes come from
// the File itself (no new slice, which Chromium may refuse while its blob store is full); an error
// reading the last byte (a new slice) is ignored, a missing one is a truncated file.
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
