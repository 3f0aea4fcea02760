//! A part's MD5, computed in wasm while the part streams in through `Blob.slice().stream()`, by
//! `md5lanes`' single-stream path: the same code as a hashing worker's part alone
//! (`lane_hashing.rs`), so the page's thread and the workers cannot disagree on a digest.
//!
//! Engines without `Blob.prototype.stream` (Safari before 14.1, and embedded WebViews built on
//! such a WebKit) get the fallback by themselves: the part is read as ≤ 1 MiB sub-slices, one at
//! a time, through `new Response(slice).arrayBuffer()` (there since Safari 10.1), so memory stays
//! bounded the same way. Without the check, calling the missing method would throw out of wasm
//! and the upload would never settle.
//!
//! Memory stays bounded: the stream hands over chunks (typically 64 KiB to 1 MiB), each is copied
//! into one reused buffer of at most 1 MiB and hashed; nothing else of the part is kept. Every
//! `update` call is at most 1 MiB because V8 runs a first huge call into fresh wasm on its slow
//! baseline tier. Dropping the future cancels the read (pause).

use crate::error::{ClientCode, Reason, UploadError, js_text};
use md5lanes::LaneState;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, ReadableStreamDefaultReader};

/// Largest single MD5 update, and the size of the copy buffer.
pub const MAX_UPDATE_BYTES: usize = 1 << 20;

/// Where a part's bytes come from, chunk by chunk.
pub(crate) enum Chunks {
    Stream(ReaderGuard),
    /// The fallback: the next ≤ 1 MiB sub-slice of `slice` starts at `offset`.
    Slices {
        slice: Blob,
        offset: f64,
    },
}

impl Chunks {
    pub(crate) fn open(slice: Blob) -> Chunks {
        let has_stream = js_sys::Reflect::get(&slice, &JsValue::from_str("stream"))
            .map(|f| f.is_function())
            .unwrap_or(false);
        if has_stream {
            let reader = slice.stream().get_reader().unchecked_into();
            Chunks::Stream(ReaderGuard {
                reader,
                finished: false,
            })
        } else {
            Chunks::Slices { slice, offset: 0.0 }
        }
    }

    /// The next chunk, `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<js_sys::Uint8Array>, UploadError> {
        match self {
            Chunks::Stream(guard) => {
                let result = JsFuture::from(guard.reader.read())
                    .await
                    .map_err(|e| read_error(js_text(&e)))?;
                let done = js_sys::Reflect::get(&result, &JsValue::from_str("done"))
                    .ok()
                    .and_then(|d| d.as_bool())
                    .unwrap_or(true);
                if done {
                    guard.finished = true;
                    return Ok(None);
                }
                let chunk = js_sys::Reflect::get(&result, &JsValue::from_str("value"))
                    .map_err(|e| read_error(js_text(&e)))?;
                Ok(Some(chunk.unchecked_into()))
            }
            Chunks::Slices { slice, offset } => {
                if *offset >= slice.size() {
                    return Ok(None);
                }
                let end = (*offset + MAX_UPDATE_BYTES as f64).min(slice.size());
                let piece = slice
                    .slice_with_f64_and_f64(*offset, end)
                    .map_err(|e| read_error(js_text(&e)))?;
                let response = web_sys::Response::new_with_opt_blob(Some(&piece))
                    .map_err(|e| read_error(js_text(&e)))?;
                let promise = response
                    .array_buffer()
                    .map_err(|e| read_error(js_text(&e)))?;
                let buffer = JsFuture::from(promise)
                    .await
                    .map_err(|e| read_error(js_text(&e)))?;
                *offset = end;
                Ok(Some(js_sys::Uint8Array::new(&buffer)))
            }
        }
    }
}

/// Cancels the stream when the hashing future is dropped part-way.
pub(crate) struct ReaderGuard {
    reader: ReadableStreamDefaultReader,
    finished: bool,
}

thread_local! {
    /// The rejection handler of a dropped reader's `cancel()`.
    static IGNORE_REJECTION: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            // The cancel of a stream whose read failed rejects with that same error, which the
            // read already reported; left unhandled, it surfaced as an uncaught "TypeError:
            // network error" on the page.
            IGNORE_REJECTION.with(|ignore| drop(self.reader.cancel().catch(ignore)));
        }
    }
}

/// Splits `len` bytes into `(offset, len)` pieces of at most [`MAX_UPDATE_BYTES`].
pub fn update_pieces(len: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len)
        .step_by(MAX_UPDATE_BYTES)
        .map(move |start| (start, (len - start).min(MAX_UPDATE_BYTES)))
}

pub(crate) fn read_error(what: String) -> UploadError {
    UploadError::client(
        ClientCode::FileReadError,
        Reason::FileUnreadable,
        format!(
            "the file could not be read ({what}); it may have been changed, moved or deleted \
             since it was chosen — choose it again"
        ),
    )
}

/// MD5 of the whole `blob`. `on_bytes(total_hashed_so_far)` is called after every chunk. When
/// `signal` aborts, the read stops at the next chunk (a few ms) and the result is `Cancelled`.
pub async fn md5_of_blob(
    blob: &Blob,
    signal: Option<&web_sys::AbortSignal>,
    mut on_bytes: impl FnMut(u64),
) -> Result<[u8; 16], UploadError> {
    let size = blob.size() as u64;
    let mut chunks = Chunks::open(blob.clone());
    let mut hasher = LaneState::new();
    let mut buffer = vec![0u8; MAX_UPDATE_BYTES.min(size as usize)];
    let mut hashed: u64 = 0;
    while let Some(chunk) = chunks.next().await? {
        if signal.is_some_and(|s| s.aborted()) {
            return Err(UploadError::cancelled());
        }
        let len = chunk.length() as usize;
        for (offset, piece) in update_pieces(len) {
            if buffer.len() < piece {
                buffer.resize(piece, 0);
            }
            chunk
                .subarray(offset as u32, (offset + piece) as u32)
                .copy_to(&mut buffer[..piece]);
            hasher.update_scalar(&buffer[..piece]);
        }
        hashed += len as u64;
        on_bytes(hashed);
    }
    if hashed != size {
        return Err(read_error(format!(
            "expected {size} bytes of the part, read {hashed}"
        )));
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_never_exceed_one_mib() {
        let pieces: Vec<_> = update_pieces(MAX_UPDATE_BYTES * 2 + 5).collect();
        assert_eq!(
            pieces,
            vec![
                (0, MAX_UPDATE_BYTES),
                (MAX_UPDATE_BYTES, MAX_UPDATE_BYTES),
                (2 * MAX_UPDATE_BYTES, 5)
            ]
        );
        assert_eq!(update_pieces(0).count(), 0);
        assert_eq!(update_pieces(10).collect::<Vec<_>>(), vec![(0, 10)]);
    }
}
