//! One async mutex per key (an upload id, an object's key), created on demand and forgotten when
//! unused.
//!
//! The filesystem backend runs in one process, so serialising an upload's state changes (a part's
//! commit, complete, abort, the sweep) needs no more than this; `Storage` lets the completes of one
//! object key take turns with it. Nothing here is state: a restart loses no information by losing
//! the locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        self.mutex_of(key).lock_owned().await
    }

    /// The lock of `key` when nobody holds it; `None` when someone does.
    pub fn try_lock(&self, key: &str) -> Option<OwnedMutexGuard<()>> {
        self.mutex_of(key).try_lock_owned().ok()
    }

    fn mutex_of(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().expect("lock table");
        if let Some(existing) = locks.get(key).and_then(Weak::upgrade) {
            return existing;
        }
        // Drop entries whose lock nobody holds, so the table stays as small as the traffic.
        if locks.len() >= 1024 {
            locks.retain(|_, weak| weak.strong_count() > 0);
        }
        let fresh = Arc::new(AsyncMutex::new(()));
        locks.insert(key.to_owned(), Arc::downgrade(&fresh));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_key_serialises_other_keys_do_not() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("a").await;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), locks.lock("b"))
                .await
                .is_ok()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), locks.lock("a"))
                .await
                .is_err()
        );
        drop(held);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), locks.lock("a"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn try_lock_never_waits() {
        let locks = KeyedLocks::default();
        let held = locks.lock("a").await;
        assert!(locks.try_lock("a").is_none());
        assert!(locks.try_lock("b").is_some());
        drop(held);
        let again = locks.try_lock("a");
        assert!(again.is_some());
        assert!(locks.try_lock("a").is_none(), "held by the try_lock itself");
    }
}
