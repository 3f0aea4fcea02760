//! Timers and the clock, from whatever global scope the module runs in (window or worker).
//!
//! `setTimeout` is imported as a global function rather than through `Window`, so the uploader
//! also works inside a Web Worker.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
}

/// Milliseconds since the epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Waits `ms` milliseconds. Dropping the future abandons the wait (the timer then fires into a
/// promise nobody awaits, which is harmless).
pub async fn sleep_ms(ms: f64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms.max(0.0));
    });
    let _ = JsFuture::from(promise).await;
}
