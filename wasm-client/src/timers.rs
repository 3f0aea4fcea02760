//! The clock, and waiting, from whatever global scope the module runs in (window or worker).
//!
//! gloo-timers calls the global `setTimeout`/`setInterval` (not `window.setTimeout`), so the
//! uploader also works inside a Web Worker.

/// Milliseconds since the epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `ms` as the whole milliseconds a JS timer takes (timers clamp to 32 bits anyway).
pub fn timer_ms(ms: f64) -> u32 {
    ms.clamp(0.0, i32::MAX as f64) as u32
}

/// Waits `ms` milliseconds. Dropping the future clears the timer.
pub async fn sleep_ms(ms: f64) {
    gloo_timers::future::TimeoutFuture::new(timer_ms(ms)).await;
}
