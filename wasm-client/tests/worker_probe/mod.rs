//! A probe in place of `globalThis.Worker` for `tests/hash_workers.rs` and `tests/instant.rs`: it counts the workers started,
//! those that said they run the wasm module (`ready`: a worker replaced for not answering in time never
//! does) and those terminated, the parts posted to them and their answers, the most parts one worker
//! had at once (`maxInFlight`: its lanes in use), can make worker creation throw or
//! workers fail to load, and is put back when dropped (also when a test panics).
#![allow(dead_code)] // each suite that includes it uses some of its probes

use js_sys::Reflect;
use partup::timers::{now_ms, sleep_ms};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function installWorkerProbe(kind) {
  const original = globalThis.Worker;
  const probe = { started: 0, ready: 0, terminated: 0, alive: 0, posted: 0, cancelsPosted: 0, hashed: 0, cancelled: 0, maxInFlight: 0, onHash: null,
                  restore() { globalThis.Worker = original; } };
  if (kind === 'throwing') {
    globalThis.Worker = function () { throw new DOMException('refused by the test', 'SecurityError'); };
    return probe;
  }
  // 'failing': the worker's script cannot run (as under a CSP that refuses it, or a bundle without
  // it): a worker from a script that throws at once fires an error event.
  const failing = kind === 'failing'
    ? URL.createObjectURL(new Blob(['throw new Error("refused by the test")'], { type: 'text/javascript' }))
    : null;
  // 'silent' workers (all, or only the first one made: 'silent-first') load a script that does
  // nothing: they never answer, as a worker that hangs while it starts.
  const silent = kind.startsWith('silent')
    ? URL.createObjectURL(new Blob(['// silent'], { type: 'text/javascript' }))
    : null;
  // Wrapped per instance: the test runner's own Worker shim returns the engine's Worker from its
  // constructor, so methods of a subclass would never be reached.
  globalThis.Worker = function (url, options) {
    const silenced = kind === 'silent' || (kind === 'silent-first' && probe.started === 0);
    const worker = new original(failing ?? (silenced ? silent : url), options);
    probe.started += 1;
    probe.alive += 1;
    let inFlight = 0;
    worker.addEventListener('message', ({ data }) => {
      if (data?.partup === 'ready') probe.ready += 1;
      if (data?.partup === 'hashed') probe.hashed += 1;
      if (data?.partup === 'cancelled') probe.cancelled += 1;
      if (['hashed', 'cancelled', 'unreadable'].includes(data?.partup)) inFlight -= 1;
    });
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (message, ...rest) => {
      post(message, ...rest);
      if (message?.partup === 'cancel') probe.cancelsPosted += 1;
      if (message?.partup === 'hash') {
        probe.posted += 1;
        inFlight += 1;
        probe.maxInFlight = Math.max(probe.maxInFlight, inFlight);
        probe.onHash?.();
        probe.onHash = null;
      }
    };
    const terminate = worker.terminate.bind(worker);
    worker.terminate = () => {
      probe.terminated += 1;
      probe.alive -= 1;
      terminate();
    };
    return worker;
  };
  return probe;
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = installWorkerProbe)]
    fn install_worker_probe(kind: &str) -> JsValue;
}

/// The probe in place while it lives; `Worker` is put back when dropped.
pub struct WorkerProbe(JsValue);

impl WorkerProbe {
    /// Counts real workers.
    pub fn counting() -> WorkerProbe {
        WorkerProbe(install_worker_probe("counting"))
    }
    /// `new Worker()` throws (no Worker, or a CSP that refuses it synchronously).
    pub fn throwing() -> WorkerProbe {
        WorkerProbe(install_worker_probe("throwing"))
    }
    /// Workers are created but their script fails to load.
    pub fn failing() -> WorkerProbe {
        WorkerProbe(install_worker_probe("failing"))
    }
    /// Every worker created runs a script that never answers.
    pub fn silent() -> WorkerProbe {
        WorkerProbe(install_worker_probe("silent"))
    }
    /// The first worker created runs a script that never answers; the others are real.
    pub fn silent_first() -> WorkerProbe {
        WorkerProbe(install_worker_probe("silent-first"))
    }
    pub fn count(&self, what: &str) -> u64 {
        Reflect::get(&self.0, &what.into())
            .unwrap()
            .as_f64()
            .unwrap() as u64
    }
    /// Calls `hook` (once) right after a part was posted to a worker.
    pub fn on_first_hash(&self, hook: impl FnOnce() + 'static) {
        let hook = Closure::once_into_js(hook);
        Reflect::set(&self.0, &"onHash".into(), &hook).unwrap();
    }

    /// Pauses `upload` right after its first part was posted to a worker, then waits until it is
    /// paused and every worker answered (hashed, or stopped by the pause).
    pub async fn pause_at_first_hash(&self, upload: &partup::Upload) {
        let pausing = upload.clone();
        self.on_first_hash(move || pausing.pause());
        wait_until("the pause", || {
            crate::common::text(&upload.progress(), "phase") == "paused"
        })
        .await;
        wait_until("the workers' answers", || {
            self.count("hashed") + self.count("cancelled") == self.count("posted")
        })
        .await;
    }
}

impl Drop for WorkerProbe {
    fn drop(&mut self) {
        let restore: js_sys::Function = Reflect::get(&self.0, &"restore".into())
            .unwrap()
            .unchecked_into();
        restore.call0(&self.0).unwrap();
    }
}

/// Waits until `ready()` (fails after 30 s).
pub async fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = now_ms() + 30_000.0;
    while !ready() {
        assert!(now_ms() < deadline, "timed out waiting for {what}");
        sleep_ms(10.0).await;
    }
}
